"""The SCDL subventions 2.1.1 export: its columns in order, its formats, the studies' sums."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from api.exports.scdl import scdl_chunks
from api.settings import Settings
from domain.application import Ledger
from domain.commands import (
    CancelCommitment,
    CorrectCommitmentAmount,
    DeliverStudy,
    Disburse,
    GrantLoan,
    InvestEquity,
    LaunchStudy,
)
from tests.app.standard_exports import (
    ACTOR,
    OLDER_STORES,
    PUBLISHER,
    demo_ledger,
    identify,
    instrument_totals,
    older_store,
    studies_committed,
)

# Written out here, not imported: the order is the standard's (schema.data.gouv.fr, 2.1.1).
HEADER = [
    "nomAttribuant",
    "idAttribuant",
    "dateConvention",
    "referenceDecision",
    "nomBeneficiaire",
    "idBeneficiaire",
    "rnaBeneficiaire",
    "objet",
    "montant",
    "nature",
    "conditionsVersement",
    "datesPeriodeVersement",
    "idRAE",
    "notificationUE",
    "pourcentageSubvention",
    "dispositifAide",
]
# The standard's constraints on each column's values.
FORMATS = {
    "idAttribuant": r"\d{14}",
    "dateConvention": r"\d{4}-\d{2}-\d{2}",
    "montant": r"\d+\.\d{2}",
    "nature": r"aide en numéraire|aide en nature|aide en numéraire;aide en nature"
    r"|aide en nature;aide en numéraire",
    "conditionsVersement": r"unique|échelonné|.{1,255}",
    "datesPeriodeVersement": r"[0-9]{4}\-[0-9]{2}\-[0-9]{2}(\/[0-9]{4}\-[0-9]{2}\-[0-9]{2})?",
    "notificationUE": r"oui|non",
    "pourcentageSubvention": r"1\.00|0\.\d{2}",
    "objet": r".{1,255}",
}


@pytest.fixture(scope="module")
def demo() -> Iterator[Ledger]:
    """The demo data, loaded once for the module."""
    ledger = demo_ledger()
    yield ledger
    ledger.close()


def export(ledger: Ledger, **options: Any) -> tuple[list[str], list[dict[str, str]]]:
    """The export, parsed by the csv module: its header and its rows."""
    text = b"".join(scdl_chunks(ledger, publisher=PUBLISHER, **options)).decode("utf-8")
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert all(len(row) == len(table[0]) for row in table)
    return table[0], [dict(zip(table[0], row, strict=True)) for row in table[1:]]


def montants(rows: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(row["montant"]) for row in rows), Decimal(0))


def studies_committed_in_read_model(ledger: Ledger) -> Decimal:
    committed: Decimal = instrument_totals(ledger)["study"]["committed"]
    return committed


# The demo -----------------------------------------------------------------------------------


def test_the_demo_export_has_the_standard_s_columns_in_order(demo: Ledger) -> None:
    header, rows = export(demo)

    assert header == HEADER
    assert len(rows) == 249  # the demo's studies


def test_the_demo_montants_sum_to_the_studies_committed(demo: Ledger) -> None:
    _, rows = export(demo)
    committed, studies = studies_committed(demo)

    assert len(rows) == studies
    assert montants(rows) == committed == studies_committed_in_read_model(demo)
    assert len({row["referenceDecision"] for row in rows}) == studies


def test_every_demo_value_has_the_standard_s_format(demo: Ledger) -> None:
    _, rows = export(demo)

    for row in rows:
        for column, pattern in FORMATS.items():
            assert re.fullmatch(pattern, row[column]), (column, row[column])
        assert row["nomAttribuant"] == "Banque d'essai"
        assert row["nomBeneficiaire"]
        assert date.fromisoformat(row["dateConvention"])
        for day in row["datesPeriodeVersement"].split("/"):
            assert date.fromisoformat(day) >= date.fromisoformat(row["dateConvention"])


def test_the_demo_export_is_streamed_with_progress(demo: Ledger) -> None:
    reports: list[tuple[int, int]] = []
    head = demo.head_position()

    export(demo, progress=lambda done, total: reports.append((done, total)))

    assert reports[-1] == (head, head)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


# A hand-made history ------------------------------------------------------------------------


def launch(ledger: Ledger, project: UUID, amount: str, on: date, subject: str) -> UUID:
    commitment = ledger.execute(
        ACTOR, LaunchStudy(project_id=project, amount=amount, launched_on=on, subject=subject)
    ).commitment_id
    assert commitment is not None
    return commitment


def pay(ledger: Ledger, project: UUID, study: UUID, amount: str, on: date) -> None:
    ledger.execute(
        ACTOR, Disburse(project_id=project, commitment_id=study, amount=amount, disbursed_on=on)
    )


def test_each_study_is_one_row_with_its_amount_and_payment_dates(ledger: Ledger) -> None:
    project = identify(ledger, "Revitalisation du centre de Wallers")
    unpaid = launch(ledger, project, "10000.00", date(2024, 2, 1), "Diagnostic de l'habitat")
    once = launch(ledger, project, "20000.50", date(2024, 2, 2), 'Étude "centre-bourg", phase 1')
    twice = launch(ledger, project, "30000.00", date(2024, 2, 3), "Programmation")
    delivered = launch(ledger, project, "5000.00", date(2024, 2, 4), "Relevés")
    pay(ledger, project, once, "20000.50", date(2024, 5, 1))
    pay(ledger, project, twice, "10000.00", date(2024, 6, 1))
    pay(ledger, project, twice, "15000.00", date(2024, 9, 30))
    ledger.execute(
        ACTOR,
        DeliverStudy(project_id=project, commitment_id=delivered, delivered_on=date(2024, 7, 14)),
    )
    # A correction changes the amount granted; a cancellation is not an SCDL column.
    ledger.execute(
        ACTOR,
        CorrectCommitmentAmount(
            project_id=project, commitment_id=unpaid, amount="12000.00", reason="saisie"
        ),
    )
    ledger.execute(
        ACTOR,
        CancelCommitment(
            project_id=project,
            commitment_id=twice,
            amount="5000.00",
            cancelled_on=date(2024, 10, 1),
            reason="fin",
        ),
    )
    # Loans and equity are not grants.
    ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project, amount="1000.00", granted_on=date(2024, 2, 1), duration_months=12
        ),
    )
    ledger.execute(
        ACTOR, InvestEquity(project_id=project, amount="1000.00", invested_on=date(2024, 2, 1))
    )

    header, rows = export(ledger)

    assert header == HEADER
    common = {
        "nomAttribuant": "Banque d'essai",
        "idAttribuant": "12345678900011",
        "nomBeneficiaire": "Wallers",
        "idBeneficiaire": "",
        "rnaBeneficiaire": "",
        "nature": "aide en numéraire",
        "idRAE": "",
        "notificationUE": "non",
        "pourcentageSubvention": "1.00",
        "dispositifAide": "",
    }
    expected = [
        (unpaid, "2024-02-01", "Diagnostic de l'habitat", "12000.00", "unique", "2024-02-01"),
        (once, "2024-02-02", 'Étude "centre-bourg", phase 1', "20000.50", "unique", "2024-05-01"),
        (twice, "2024-02-03", "Programmation", "30000.00", "échelonné", "2024-06-01/2024-09-30"),
        (delivered, "2024-02-04", "Relevés", "5000.00", "unique", "2024-02-04/2024-07-14"),
    ]
    assert rows == [
        {
            **common,
            "dateConvention": on,
            "referenceDecision": str(study),
            "objet": objet,
            "montant": montant,
            "conditionsVersement": conditions,
            "datesPeriodeVersement": period,
        }
        for study, on, objet, montant, conditions, period in expected
    ]
    assert montants(rows) == Decimal("67000.50") == studies_committed_in_read_model(ledger)


def test_a_ledger_without_studies_exports_the_header_alone(ledger: Ledger) -> None:
    identify(ledger, "Revitalisation du centre de Wallers")

    header, rows = export(ledger)

    assert header == HEADER
    assert rows == []


def test_the_export_stands_at_one_position_of_the_log(ledger: Ledger) -> None:
    project = identify(ledger, "Revitalisation du centre de Wallers")
    launch(ledger, project, "1000.00", date(2024, 2, 1), "Avant")
    at = ledger.head_position()
    launch(ledger, project, "2000.00", date(2024, 2, 1), "Après")

    _, then = export(ledger, up_to=at)
    _, now = export(ledger)

    assert [row["objet"] for row in then] == ["Avant"]
    assert [row["objet"] for row in now] == ["Avant", "Après"]


def test_the_publisher_comes_from_the_settings(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNDING_PUBLISHER_NAME", "Banque des essais")
    monkeypatch.setenv("FUNDING_PUBLISHER_SIRET", "11122233300044")
    launch(ledger, identify(ledger, "Centre-bourg"), "1000.00", date(2024, 2, 1), "Étude")

    text = b"".join(scdl_chunks(ledger)).decode()

    row = next(csv.DictReader(io.StringIO(text, newline="")))
    assert (row["nomAttribuant"], row["idAttribuant"]) == ("Banque des essais", "11122233300044")


@pytest.mark.parametrize("siret", ["1234", "1234567890001X", " 12345678900011"])
def test_a_siret_that_is_not_fourteen_digits_is_refused(siret: str) -> None:
    with pytest.raises(ValidationError, match="publisher_siret"):
        Settings(publisher_siret=siret)


@pytest.mark.parametrize("store", OLDER_STORES)
def test_a_store_written_by_older_code_exports(store: str, tmp_path: Path) -> None:
    with older_store(store, tmp_path) as older:
        header, rows = export(older)
        committed, studies = studies_committed(older)

    assert header == HEADER
    assert len(rows) == studies
    assert montants(rows) == committed
