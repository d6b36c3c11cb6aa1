"""The IATI 2.03 export of a hand-made history: each movement a transaction, exact values."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from lxml import etree

from api.exports.iati import iati_chunks
from domain.application import Ledger
from domain.commands import (
    AbandonProject,
    CancelCommitment,
    CompleteProject,
    CorrectCommitmentAmount,
    Disburse,
    GrantLoan,
    InvestEquity,
    LaunchStudy,
    RecordRepayment,
)
from tests.app.standard_exports import (
    ACTOR,
    SCHEMA_FILE,
    WALLERS,
    aggregate_figures,
    attributes,
    iati_export,
    iati_sums,
    identify,
    only,
    read_model_figures,
)


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """The IATI 2.03 activity schema (it includes iati-common.xsd and imports xml.xsd)."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_FILE)))


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


def activity_of(document: etree._Element, project: UUID) -> etree._Element:
    for activity in document.iter("iati-activity"):
        if only(activity, "iati-identifier").text == f"FR-RCS-123456789-{project}":
            return activity
    raise AssertionError(f"no activity for {project}")


def test_each_movement_is_a_transaction_of_the_right_type_value_and_date(
    ledger: Ledger, schema: etree.XMLSchema
) -> None:
    project, loan, equity, study = busy_project(ledger)

    document = iati_export(ledger)

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
    assert iati_sums(document) == read_model_figures(ledger) == aggregate_figures(ledger)


def test_an_activity_carries_the_project_s_details(ledger: Ledger) -> None:
    project, *_ = busy_project(ledger)

    activity = activity_of(iati_export(ledger), project)

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

    document = iati_export(ledger)

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

    activity = activity_of(iati_export(ledger), project)

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

    values = [v for _, _, _, _, v, _ in transactions(activity_of(iati_export(ledger), project))]

    assert values == ["999999999999.99"]


def test_a_character_xml_cannot_carry_is_replaced_and_the_export_stays_valid(
    ledger: Ledger, schema: etree.XMLSchema
) -> None:
    # U+FFFE is a valid name for the ledger, but no XML 1.0 document may hold it.
    project = identify(ledger, "Projet \ufffe inscrit")

    document = iati_export(ledger)

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

    then = iati_export(ledger, up_to=at)
    now = iati_export(ledger)

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
