"""The IATI 2.03 export: valid against the activity schema, one activity per project, exact sums."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from lxml import etree

from api.exports.iati import iati_chunks
from api.exports.publisher import Publisher
from demo import load_demo
from domain.application import Ledger
from domain.commands import (
    AbandonProject,
    CancelCommitment,
    CompleteProject,
    CorrectCommitmentAmount,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    LaunchStudy,
    RecordRepayment,
)
from domain.project import Project
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.totals.queries import totals

SCHEMA_FILE = Path(__file__).parents[1] / "fixtures" / "iati-2.03" / "iati-activities-schema.xsd"
PUBLISHER = Publisher(
    name="Banque d'essai", siret="12345678900011", iati_ref="FR-RCS-123456789", iati_type="15"
)
ACTOR = Actor("tester")
WALLERS = "commune:59632"
# (transaction type, finance type) → the ledger figure it sums to, per instrument.
FIGURES = {
    ("2", "421"): ("loan", "net_committed"),
    ("3", "421"): ("loan", "disbursed"),
    ("6", "421"): ("loan", "repaid"),
    ("2", "510"): ("equity", "net_committed"),
    ("8", "510"): ("equity", "disbursed"),
    ("2", "110"): ("study", "net_committed"),
    ("3", "110"): ("study", "disbursed"),
}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """The IATI 2.03 activity schema (it includes iati-common.xsd and imports xml.xsd)."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_FILE)))


@pytest.fixture(scope="module")
def demo_ledger() -> Iterator[Ledger]:
    """The demo data, loaded once for the module."""
    ledger = Ledger(env=library_env("memory://"))
    load_demo(ledger, lambda _done, _total: None)
    yield ledger
    ledger.close()


def export(ledger: Ledger, **options: Any) -> etree._Element:
    """The export, parsed."""
    return etree.fromstring(b"".join(iati_chunks(ledger, publisher=PUBLISHER, **options)))


def sums(document: etree._Element) -> dict[tuple[str, str], Decimal]:
    """Σ transaction values per (transaction type, finance type), the non-zero ones."""
    found: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for transaction in document.iter("transaction"):
        kind = transaction.find("transaction-type")
        finance = transaction.find("finance-type")
        value = transaction.find("value")
        assert kind is not None
        assert finance is not None
        assert value is not None
        found[kind.get("code", ""), finance.get("code", "")] += Decimal(value.text or "")
    return {key: total for key, total in found.items() if total != 0}


def read_model_figures(ledger: Ledger) -> dict[tuple[str, str], Decimal]:
    """The ledger's own non-zero totals per instrument, from the totals read model."""
    db = ReadModelDatabase.from_url("memory://")
    try:
        catch_up(ledger, db)
        rows = totals(db, ["instrument"]).rows
    finally:
        db.close()
    return {
        key: Decimal(row[figure])
        for key, (instrument, figure) in FIGURES.items()
        for row in rows
        if row["instrument"] == instrument and row[figure] != 0
    }


def aggregate_figures(ledger: Ledger) -> dict[tuple[str, str], Decimal]:
    """The same totals summed from the project aggregates themselves (the non-zero ones)."""
    found: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for aggregate_id in ledger.iter_aggregate_ids():
        project: Aggregate = ledger.repository.get(aggregate_id)
        if not isinstance(project, Project):
            continue
        for commitment in project.commitments.values():
            for key, (instrument, figure) in FIGURES.items():
                if commitment.instrument.value == instrument:
                    found[key] += getattr(commitment, figure)
    return {key: value for key, value in found.items() if value != 0}


def only(document: etree._Element, path: str) -> etree._Element:
    found = document.findall(path)
    assert len(found) == 1, f"{len(found)} elements at {path}"
    return found[0]


# The demo -----------------------------------------------------------------------------------


def test_the_demo_export_is_valid_iati_2_03(demo_ledger: Ledger, schema: etree.XMLSchema) -> None:
    document = export(demo_ledger)

    assert schema.validate(document), schema.error_log
    assert document.get("version") == "2.03"


def test_the_demo_export_has_one_activity_per_project(demo_ledger: Ledger) -> None:
    document = export(demo_ledger)
    projects = [
        i
        for i in demo_ledger.iter_aggregate_ids()
        if isinstance(demo_ledger.repository.get(i), Project)
    ]

    identifiers = [e.text for e in document.iter("iati-identifier")]
    assert len(identifiers) == len(projects) == 480
    assert set(identifiers) == {f"FR-RCS-123456789-{p}" for p in projects}


def test_the_demo_export_sums_equal_the_ledger_s_totals(demo_ledger: Ledger) -> None:
    exported = sums(export(demo_ledger))
    from_read_model = read_model_figures(demo_ledger)

    assert exported == from_read_model
    assert exported == aggregate_figures(demo_ledger)
    # Every kind of transaction is there: the check is not vacuous.
    assert all(exported[key] > 0 for key in FIGURES)


def test_the_demo_export_reports_progress_along_the_log(demo_ledger: Ledger) -> None:
    reports: list[tuple[int, int]] = []
    head = demo_ledger.head_position()

    export(demo_ledger, progress=lambda done, total: reports.append((done, total)))

    assert reports[-1] == (head, head)
    assert len(reports) == 481  # once per project, and once at the end
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_the_export_is_streamed_one_project_at_a_time(demo_ledger: Ledger) -> None:
    reports: list[tuple[int, int]] = []
    chunks = iati_chunks(
        demo_ledger, publisher=PUBLISHER, progress=lambda done, total: reports.append((done, total))
    )

    first = next(chunks)

    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    # The first chunk left before the log was read through.
    assert reports
    assert reports[-1][0] < demo_ledger.head_position() // 2


# A hand-made history ------------------------------------------------------------------------


def identify(ledger: Ledger, name: str, territory: str = WALLERS, **fields: Any) -> UUID:
    directorate = fields.pop("directorate", "hauts_de_france")
    written = ledger.execute(
        ACTOR,
        IdentifyProject(
            name=name,
            territory=territory,
            theme=fields.pop("theme", "mobility"),
            directorate=directorate,
            identified_on=date(2024, 1, 10),
            **fields,
        ),
    )
    return written.id


def busy_project(ledger: Ledger) -> tuple[UUID, UUID, UUID, UUID]:
    """A project with a loan (corrected, disbursed, repaid, cancelled), equity and a study."""
    project = identify(
        ledger,
        "Pôle d'échanges de Wallers",
        programme="petites_villes_de_demain",
        reference="HDF-T-1",
        estimated_cost="9000000.00",
    )
    loan = ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project,
            amount="1000000.00",
            granted_on=date(2024, 2, 1),
            duration_months=240,
        ),
    ).commitment_id
    assert loan is not None
    for command in (
        CorrectCommitmentAmount(
            project_id=project, commitment_id=loan, amount="1200000.00", reason="saisie"
        ),
        Disburse(
            project_id=project,
            commitment_id=loan,
            amount="500000.00",
            disbursed_on=date(2024, 3, 1),
        ),
        RecordRepayment(
            project_id=project,
            commitment_id=loan,
            principal="100000.00",
            repaid_on=date(2024, 9, 1),
        ),
        CancelCommitment(
            project_id=project,
            commitment_id=loan,
            amount="200000.00",
            cancelled_on=date(2024, 10, 1),
            reason="besoin réduit",
        ),
    ):
        ledger.execute(ACTOR, command)
    equity = ledger.execute(
        ACTOR, InvestEquity(project_id=project, amount="300000.00", invested_on=date(2024, 2, 15))
    ).commitment_id
    assert equity is not None
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=project,
            commitment_id=equity,
            amount="300000.00",
            disbursed_on=date(2024, 4, 1),
        ),
    )
    study = ledger.execute(
        ACTOR,
        LaunchStudy(
            project_id=project,
            amount="45000.50",
            launched_on=date(2024, 1, 20),
            subject="Étude de circulation",
        ),
    ).commitment_id
    assert study is not None
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=project,
            commitment_id=study,
            amount="20000.00",
            disbursed_on=date(2024, 5, 1),
        ),
    )
    return project, loan, equity, study


def transactions(activity: etree._Element) -> list[tuple[str, str, str, str, str, str]]:
    """(ref, type, date, value-date, value, finance type) of each transaction, in order."""
    found = []
    for t in activity.iter("transaction"):
        found.append(
            (
                t.get("ref", ""),
                only(t, "transaction-type").get("code", ""),
                only(t, "transaction-date").get("iso-date", ""),
                only(t, "value").get("value-date", ""),
                only(t, "value").text or "",
                only(t, "finance-type").get("code", ""),
            )
        )
    return found


def attributes(element: etree._Element) -> dict[str, str]:
    return {str(k): str(v) for k, v in element.attrib.items()}


def activity_of(document: etree._Element, project: UUID) -> etree._Element:
    for activity in document.iter("iati-activity"):
        if only(activity, "iati-identifier").text == f"FR-RCS-123456789-{project}":
            return activity
    raise AssertionError(f"no activity for {project}")


def test_each_movement_is_a_transaction_of_the_right_type_value_and_date(
    ledger: Ledger, schema: etree.XMLSchema
) -> None:
    project, loan, equity, study = busy_project(ledger)

    document = export(ledger)

    assert schema.validate(document), schema.error_log
    assert transactions(activity_of(document, project)) == [
        (str(loan), "2", "2024-02-01", "2024-02-01", "1000000.00", "421"),
        # A correction: the difference, at the commitment's own date.
        (str(loan), "2", "2024-02-01", "2024-02-01", "200000.00", "421"),
        (str(loan), "3", "2024-03-01", "2024-03-01", "500000.00", "421"),
        (str(loan), "6", "2024-09-01", "2024-09-01", "100000.00", "421"),
        # A cancellation: a negative commitment.
        (str(loan), "2", "2024-10-01", "2024-10-01", "-200000.00", "421"),
        (str(equity), "2", "2024-02-15", "2024-02-15", "300000.00", "510"),
        (str(equity), "8", "2024-04-01", "2024-04-01", "300000.00", "510"),
        (str(study), "2", "2024-01-20", "2024-01-20", "45000.50", "110"),
        (str(study), "3", "2024-05-01", "2024-05-01", "20000.00", "110"),
    ]
    assert sums(document) == read_model_figures(ledger) == aggregate_figures(ledger)


def test_an_activity_carries_the_project_s_details(ledger: Ledger) -> None:
    project, *_ = busy_project(ledger)

    activity = activity_of(export(ledger), project)

    assert activity.get("default-currency") == "EUR"
    assert only(activity, "reporting-org").get("ref") == "FR-RCS-123456789"
    assert only(activity, "title/narrative").text == "Pôle d'échanges de Wallers"
    assert only(activity, "activity-status").get("code") == "2"
    assert attributes(only(activity, "activity-date")) == {"type": "2", "iso-date": "2024-01-10"}
    assert only(activity, "recipient-country").get("code") == "FR"
    location = only(activity, "location")
    assert location.get("ref") == WALLERS
    assert only(location, "name/narrative").text == "Wallers"
    sector = only(activity, "sector")
    assert attributes(sector) == {"vocabulary": "99", "code": "mobility"}
    assert only(sector, "narrative").text == "Mobilité"
    assert only(activity, "tag").get("code") == "petites_villes_de_demain"
    assert only(activity, "other-identifier").get("ref") == "HDF-T-1"
    roles = {org.get("role") for org in activity.iter("participating-org")}
    assert roles == {"1", "3"}


def test_the_status_follows_the_project(ledger: Ledger) -> None:
    pipeline = identify(ledger, "Sans engagement")
    abandoned = identify(ledger, "Abandonné")
    ledger.execute(ACTOR, AbandonProject(project_id=abandoned, on=date(2024, 6, 30)))
    settled = identify(ledger, "Étude soldée")
    study = ledger.execute(
        ACTOR,
        LaunchStudy(
            project_id=settled, amount="1000.00", launched_on=date(2024, 2, 1), subject="Diagnostic"
        ),
    ).commitment_id
    assert study is not None
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=settled, commitment_id=study, amount="1000.00", disbursed_on=date(2024, 3, 1)
        ),
    )
    ledger.execute(ACTOR, CompleteProject(project_id=settled, on=date(2024, 4, 1)))
    owing = identify(ledger, "Prêt en cours")
    loan = ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=owing, amount="1000.00", granted_on=date(2024, 2, 1), duration_months=12
        ),
    ).commitment_id
    assert loan is not None
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=owing, commitment_id=loan, amount="1000.00", disbursed_on=date(2024, 3, 1)
        ),
    )
    ledger.execute(ACTOR, CompleteProject(project_id=owing, on=date(2024, 4, 1)))

    document = export(ledger)

    def status(project: UUID) -> str | None:
        return only(activity_of(document, project), "activity-status").get("code")

    assert status(pipeline) == "1"
    assert status(abandoned) == "5"
    assert status(settled) == "4"
    assert status(owing) == "3"  # completed, its loan still to be repaid
    ends = activity_of(document, abandoned).findall("activity-date[@type='4']")
    assert [e.get("iso-date") for e in ends] == ["2024-06-30"]


def test_an_overseas_collectivity_is_its_own_recipient_country(ledger: Ledger) -> None:
    project = identify(ledger, "Port de Papeete", "commune:98735", directorate="pacifique")

    activity = activity_of(export(ledger), project)

    assert only(activity, "recipient-country").get("code") == "PF"


def test_amounts_are_written_exactly(ledger: Ledger) -> None:
    project = identify(ledger, "Grand projet")
    ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project,
            amount="999999999999.99",
            granted_on=date(2024, 2, 1),
            duration_months=600,
        ),
    )

    values = [v for _, _, _, _, v, _ in transactions(activity_of(export(ledger), project))]

    assert values == ["999999999999.99"]


def test_a_character_xml_cannot_carry_is_replaced_and_the_export_stays_valid(
    ledger: Ledger, schema: etree.XMLSchema
) -> None:
    # U+FFFE is a valid name for the ledger, but no XML 1.0 document may hold it.
    project = identify(ledger, "Projet \ufffe inscrit")

    document = export(ledger)

    assert schema.validate(document), schema.error_log
    assert only(activity_of(document, project), "title/narrative").text == "Projet \ufffd inscrit"


def test_the_export_stands_at_one_position_of_the_log(ledger: Ledger) -> None:
    project, loan, *_ = busy_project(ledger)
    at = ledger.head_position()
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=project, commitment_id=loan, amount="1.00", disbursed_on=date(2024, 11, 1)
        ),
    )
    later = identify(ledger, "Identifié plus tard")

    then = export(ledger, up_to=at)
    now = export(ledger)

    assert len(transactions(activity_of(then, project))) == 9
    assert len(transactions(activity_of(now, project))) == 10
    assert [e.text for e in then.iter("iati-identifier")] == [f"FR-RCS-123456789-{project}"]
    assert activity_of(now, later) is not None


def test_the_publisher_comes_from_the_settings(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNDING_IATI_ORG_REF", "FR-RCS-987654321")
    monkeypatch.setenv("FUNDING_PUBLISHER_NAME", "Banque des essais")
    project = identify(ledger, "Projet")

    document = etree.fromstring(b"".join(iati_chunks(ledger)))

    assert only(document, "iati-activity/iati-identifier").text == f"FR-RCS-987654321-{project}"
    assert only(document, "iati-activity/reporting-org/narrative").text == "Banque des essais"


@pytest.mark.parametrize("store", ["store-2026-11.sqlite3", "store-2026-12.sqlite3"])
def test_a_store_written_by_older_code_exports(
    store: str, tmp_path: Path, schema: etree.XMLSchema
) -> None:
    copy = tmp_path / store
    shutil.copy(SCHEMA_FILE.parents[1] / store, copy)
    older = Ledger(env=library_env(f"sqlite:///{copy}"))
    try:
        document = export(older)
        figures = aggregate_figures(older)
    finally:
        older.close()

    assert schema.validate(document), schema.error_log
    assert len(document.findall("iati-activity")) >= 1
    assert sums(document) == figures
