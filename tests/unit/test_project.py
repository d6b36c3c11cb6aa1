"""The Project aggregate on its own: its rules refuse bad commands and record nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from domain.errors import (
    AmountExceedsError,
    BusinessRuleError,
    DomainError,
    DuplicateCommitmentError,
    InvalidValueError,
    NotFoundError,
    OutOfScopeError,
    ProjectClosedError,
    UnknownDirectorateError,
    UnknownProgrammeError,
    UnknownTerritoryError,
    UnknownThemeError,
)
from domain.project import Project
from domain.reference import Instrument
from domain.values import ProjectStatus

IDENTIFIED_ON = date(2024, 1, 15)
GRANTED_ON = date(2024, 2, 1)
LATER = date(2024, 6, 1)


def identified_project(**overrides: object) -> Project:
    """A freshly identified project in Wattrelos (Nord), with its creation event collected."""
    details: dict[str, object] = {
        "project_id": uuid4(),
        "name": "Tramway de Wattrelos",
        "territory": "commune:59650",
        "theme": "mobility",
        "directorate": "hauts_de_france",
        "identified_on": IDENTIFIED_ON,
    }
    details.update(overrides)
    project = Project.identify(**details)  # type: ignore[arg-type]
    project.collect_events()
    return project


def with_loan(project: Project, amount: str = "1000.00", on: date = GRANTED_ON) -> UUID:
    commitment_id = uuid4()
    project.grant_loan(
        commitment_id=commitment_id, amount=amount, granted_on=on, duration_months=240
    )
    project.collect_events()
    return commitment_id


def with_equity(project: Project, amount: str = "1000.00") -> UUID:
    commitment_id = uuid4()
    project.invest_equity(commitment_id=commitment_id, amount=amount, invested_on=GRANTED_ON)
    project.collect_events()
    return commitment_id


def with_study(project: Project, amount: str = "50000.00") -> UUID:
    commitment_id = uuid4()
    project.launch_study(
        commitment_id=commitment_id, amount=amount, launched_on=GRANTED_ON, subject="Étude"
    )
    project.collect_events()
    return commitment_id


def refuses(project: Project, error: type[DomainError], command: Callable[[], None]) -> DomainError:
    """Run a command that must be refused with `error` and leave the project untouched."""
    version = project.version

    with pytest.raises(error) as refused:
        command()

    assert project.version == version
    assert project.collect_events() == []
    return refused.value


# Identification ----------------------------------------------------------------------------


def test_identifying_a_project_records_its_details() -> None:
    project_id = uuid4()

    project = Project.identify(
        project_id=project_id,
        name="  Tramway de Wattrelos ",
        territory="commune:59650",
        theme="mobility",
        directorate="hauts_de_france",
        identified_on=IDENTIFIED_ON,
        programme="action_coeur_de_ville",
        estimated_cost="1200000.5",
        reference="HDF-001",
    )

    assert project.id == project_id
    assert project.name == "Tramway de Wattrelos"
    assert project.programme == "action_coeur_de_ville"
    assert project.estimated_cost == Decimal("1200000.50")
    assert project.reference == "HDF-001"
    assert project.status is ProjectStatus.ACTIVE
    assert [type(e) for e in project.collect_events()] == [Project.ProjectIdentified]


def test_identifying_a_project_in_an_unknown_territory_is_refused() -> None:
    with pytest.raises(UnknownTerritoryError):
        identified_project(territory="commune:00000")


def test_identifying_a_project_with_an_unprefixed_territory_code_is_refused() -> None:
    with pytest.raises(UnknownTerritoryError):
        identified_project(territory="59650")


def test_identifying_a_project_with_an_unknown_theme_is_refused() -> None:
    with pytest.raises(UnknownThemeError):
        identified_project(theme="space_travel")


def test_identifying_a_project_with_an_unknown_programme_is_refused() -> None:
    with pytest.raises(UnknownProgrammeError):
        identified_project(programme="grand_paris_express")


def test_identifying_a_project_for_an_unknown_directorate_is_refused() -> None:
    with pytest.raises(UnknownDirectorateError):
        identified_project(directorate="nord_pas_de_calais")


def test_identifying_a_project_outside_the_directorate_regions_is_refused() -> None:
    with pytest.raises(OutOfScopeError):
        identified_project(territory="commune:75056")


def test_identifying_a_project_in_a_region_its_directorate_covers_is_accepted() -> None:
    project = identified_project(territory="commune:75056", directorate="ile_de_france")

    assert project.territory == "commune:75056"


def test_identifying_a_project_with_a_blank_name_is_refused() -> None:
    with pytest.raises(InvalidValueError) as refused:
        identified_project(name="  ")

    assert refused.value.field == "name"


@pytest.mark.parametrize("name", ["\u200b", "Tram\u202eyaw", "Tram\u2028way", "Tram\x7fway"])
def test_identifying_a_project_with_an_invisible_or_deceptive_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        identified_project(name=name)

    assert refused.value.field == "name"


@pytest.mark.parametrize(
    ("field", "command"),
    [
        (
            "reason",
            lambda p, c: p.cancel_commitment(
                commitment_id=c, amount="1.00", cancelled_on=LATER, reason="\u200b\u200b"
            ),
        ),
        (
            "reason",
            lambda p, c: p.correct_commitment_amount(
                commitment_id=c, amount="2.00", reason="typo\u2029"
            ),
        ),
        (
            "product",
            lambda p, _: p.grant_loan(
                commitment_id=uuid4(),
                amount="1.00",
                granted_on=LATER,
                duration_months=12,
                product="Prêt\x85",
            ),
        ),
        (
            "vehicle",
            lambda p, _: p.invest_equity(
                commitment_id=uuid4(), amount="1.00", invested_on=LATER, vehicle="\u2066SEM\u2069"
            ),
        ),
        (
            "subject",
            lambda p, _: p.launch_study(
                commitment_id=uuid4(), amount="1.00", launched_on=LATER, subject="\ufeff"
            ),
        ),
        (
            "unit",
            lambda p, _: p.set_indicator(
                indicator="jobs", unit="jobs\x1b", target="1", due_on=LATER
            ),
        ),
    ],
)
def test_a_command_refuses_invisible_or_deceptive_text_naming_the_field(
    field: str, command: Callable[[Project, UUID], None]
) -> None:
    project = identified_project()
    commitment_id = with_loan(project)

    refused = refuses(project, InvalidValueError, lambda: command(project, commitment_id))

    assert isinstance(refused, InvalidValueError)
    assert refused.field == field


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("rate", {"rate": "١٢"}),
        ("rate", {"rate": "1_0"}),
        ("rate", {"rate": "0." + "0" * 4999 + "1"}),
        ("rate", {"rate": Decimal("1e-999999999")}),
        ("amount", {"amount": "１２"}),
    ],
)
def test_a_loan_with_a_lenient_number_is_refused_naming_the_field(
    field: str, values: dict[str, object]
) -> None:
    project = identified_project()
    details: dict[str, object] = {"amount": "1000.00", **values}

    refused = refuses(
        project,
        InvalidValueError,
        lambda: project.grant_loan(
            commitment_id=uuid4(),
            granted_on=GRANTED_ON,
            duration_months=12,
            **details,  # type: ignore[arg-type]
        ),
    )

    assert isinstance(refused, InvalidValueError)
    assert refused.field == field


def test_an_indicator_code_with_a_trailing_line_feed_is_refused() -> None:
    project = identified_project()

    refused = refuses(
        project,
        InvalidValueError,
        lambda: project.set_indicator(indicator="jobs\n", unit="jobs", target="1", due_on=LATER),
    )

    assert isinstance(refused, InvalidValueError)
    assert refused.field == "indicator"


# Commitments -------------------------------------------------------------------------------


def test_granting_a_loan_commits_its_amount_at_the_grant_date() -> None:
    project = identified_project()
    commitment_id = uuid4()

    project.grant_loan(
        commitment_id=commitment_id,
        amount="250000.00",
        granted_on=GRANTED_ON,
        duration_months=240,
        rate="3.5",
    )

    commitment = project.commitment(commitment_id)
    assert commitment.instrument is Instrument.LOAN
    assert commitment.amount == Decimal("250000.00")
    assert commitment.committed_on == GRANTED_ON
    assert commitment.details["rate"] == Decimal("3.5")
    assert [type(e) for e in project.collect_events()] == [Project.LoanGranted]


def test_investing_equity_commits_its_amount() -> None:
    project = identified_project()

    commitment_id = with_equity(project, "40000.00")

    assert project.commitment(commitment_id).instrument is Instrument.EQUITY
    assert project.commitment(commitment_id).net_committed == Decimal("40000.00")


def test_launching_a_study_commits_its_budget() -> None:
    project = identified_project()

    commitment_id = with_study(project, "50000.00")

    assert project.commitment(commitment_id).instrument is Instrument.STUDY
    assert project.commitment(commitment_id).amount == Decimal("50000.00")


def test_a_commitment_on_an_abandoned_project_is_refused() -> None:
    project = identified_project()
    project.abandon(on=LATER, reason="funding withdrawn")
    project.collect_events()

    refuses(
        project,
        ProjectClosedError,
        lambda: project.grant_loan(
            commitment_id=uuid4(), amount="10.00", granted_on=LATER, duration_months=12
        ),
    )


def test_a_commitment_on_a_completed_project_is_refused() -> None:
    project = identified_project()
    project.complete(on=LATER)
    project.collect_events()

    refuses(
        project,
        ProjectClosedError,
        lambda: project.invest_equity(commitment_id=uuid4(), amount="10.00", invested_on=LATER),
    )


def test_a_study_on_a_completed_project_is_refused() -> None:
    project = identified_project()
    project.complete(on=LATER)
    project.collect_events()

    refuses(
        project,
        ProjectClosedError,
        lambda: project.launch_study(
            commitment_id=uuid4(), amount="10.00", launched_on=LATER, subject="Étude"
        ),
    )


def test_a_duplicate_commitment_id_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project)

    refuses(
        project,
        DuplicateCommitmentError,
        lambda: project.invest_equity(
            commitment_id=commitment_id, amount="10.00", invested_on=GRANTED_ON
        ),
    )


def test_a_commitment_dated_before_the_project_identification_is_refused() -> None:
    project = identified_project()

    refuses(
        project,
        BusinessRuleError,
        lambda: project.grant_loan(
            commitment_id=uuid4(),
            amount="10.00",
            granted_on=date(2023, 12, 31),
            duration_months=12,
        ),
    )


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param("1.234", id="three-decimals"),
        pytest.param("0", id="zero"),
        pytest.param("-100.00", id="negative"),
        pytest.param("1000000000000.01", id="above-1e12"),
    ],
)
def test_a_commitment_amount_that_is_not_valid_money_is_refused(amount: str) -> None:
    project = identified_project()

    error = refuses(
        project,
        InvalidValueError,
        lambda: project.grant_loan(
            commitment_id=uuid4(), amount=amount, granted_on=GRANTED_ON, duration_months=12
        ),
    )

    assert isinstance(error, InvalidValueError)
    assert error.field == "amount"


@pytest.mark.parametrize("months", [0, 601, True])
def test_a_loan_duration_outside_one_to_600_months_is_refused(months: int) -> None:
    project = identified_project()

    error = refuses(
        project,
        InvalidValueError,
        lambda: project.grant_loan(
            commitment_id=uuid4(), amount="10.00", granted_on=GRANTED_ON, duration_months=months
        ),
    )

    assert isinstance(error, InvalidValueError)
    assert error.field == "duration_months"


@pytest.mark.parametrize("months", [12.5, "12"])
def test_a_loan_duration_that_is_not_a_whole_number_of_months_is_refused(months: object) -> None:
    project = identified_project()

    refuses(
        project,
        InvalidValueError,
        lambda: project.grant_loan(
            commitment_id=uuid4(),
            amount="10.00",
            granted_on=GRANTED_ON,
            duration_months=months,  # type: ignore[arg-type]
        ),
    )


# Disbursements, repayments, cancellations --------------------------------------------------


def test_disbursing_adds_to_what_was_disbursed() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")

    project.disburse(commitment_id=commitment_id, amount="400.00", disbursed_on=LATER)

    assert project.commitment(commitment_id).disbursed == Decimal("400.00")
    assert project.commitment(commitment_id).to_disburse == Decimal("600.00")


def test_disbursing_the_whole_net_commitment_is_accepted() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")

    project.disburse(commitment_id=commitment_id, amount="1000.00", disbursed_on=LATER)

    assert project.commitment(commitment_id).to_disburse == Decimal("0.00")


def test_disbursing_beyond_the_net_commitment_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")
    project.cancel_commitment(
        commitment_id=commitment_id, amount="300.00", cancelled_on=LATER, reason="scope reduced"
    )
    project.collect_events()

    refuses(
        project,
        AmountExceedsError,
        lambda: project.disburse(commitment_id=commitment_id, amount="700.01", disbursed_on=LATER),
    )


def test_disbursing_before_the_commitment_date_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00", on=date(2024, 3, 1))

    refuses(
        project,
        BusinessRuleError,
        lambda: project.disburse(
            commitment_id=commitment_id, amount="10.00", disbursed_on=date(2024, 2, 29)
        ),
    )


def test_disbursing_to_an_unknown_commitment_is_refused() -> None:
    project = identified_project()

    refuses(
        project,
        NotFoundError,
        lambda: project.disburse(commitment_id=uuid4(), amount="10.00", disbursed_on=LATER),
    )


def test_repaying_a_loan_reduces_what_is_outstanding() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")
    project.disburse(commitment_id=commitment_id, amount="800.00", disbursed_on=LATER)

    project.record_repayment(commitment_id=commitment_id, principal="300.00", repaid_on=LATER)

    assert project.commitment(commitment_id).repaid == Decimal("300.00")
    assert project.commitment(commitment_id).outstanding == Decimal("500.00")


def test_repaying_beyond_what_was_disbursed_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")
    project.disburse(commitment_id=commitment_id, amount="500.00", disbursed_on=LATER)
    project.collect_events()

    refuses(
        project,
        AmountExceedsError,
        lambda: project.record_repayment(
            commitment_id=commitment_id, principal="500.01", repaid_on=LATER
        ),
    )


def test_repaying_a_commitment_that_is_not_a_loan_is_refused() -> None:
    project = identified_project()
    commitment_id = with_equity(project, "1000.00")
    project.disburse(commitment_id=commitment_id, amount="500.00", disbursed_on=LATER)
    project.collect_events()

    error = refuses(
        project,
        BusinessRuleError,
        lambda: project.record_repayment(
            commitment_id=commitment_id, principal="100.00", repaid_on=LATER
        ),
    )

    assert "only loans" in error.detail


def test_a_repayment_amount_with_three_decimals_names_the_principal() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")
    project.disburse(commitment_id=commitment_id, amount="500.00", disbursed_on=LATER)
    project.collect_events()

    error = refuses(
        project,
        InvalidValueError,
        lambda: project.record_repayment(
            commitment_id=commitment_id, principal="1.234", repaid_on=LATER
        ),
    )

    assert isinstance(error, InvalidValueError)
    assert error.field == "principal"


def test_cancelling_reduces_the_net_commitment() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")

    project.cancel_commitment(
        commitment_id=commitment_id, amount="250.00", cancelled_on=LATER, reason="scope reduced"
    )

    commitment = project.commitment(commitment_id)
    assert commitment.amount == Decimal("1000.00")
    assert commitment.cancelled == Decimal("250.00")
    assert commitment.net_committed == Decimal("750.00")


def test_cancelling_beyond_the_undisbursed_amount_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")

    refuses(
        project,
        AmountExceedsError,
        lambda: project.cancel_commitment(
            commitment_id=commitment_id, amount="1000.01", cancelled_on=LATER, reason="x"
        ),
    )


def test_cancelling_after_a_partial_disbursement_beyond_the_rest_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")
    project.disburse(commitment_id=commitment_id, amount="600.00", disbursed_on=LATER)
    project.collect_events()

    refuses(
        project,
        AmountExceedsError,
        lambda: project.cancel_commitment(
            commitment_id=commitment_id, amount="400.01", cancelled_on=LATER, reason="x"
        ),
    )


def test_cancelling_after_a_partial_disbursement_up_to_the_rest_is_accepted() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")
    project.disburse(commitment_id=commitment_id, amount="600.00", disbursed_on=LATER)

    project.cancel_commitment(
        commitment_id=commitment_id, amount="400.00", cancelled_on=LATER, reason="works done"
    )

    commitment = project.commitment(commitment_id)
    assert commitment.net_committed == Decimal("600.00")
    assert commitment.to_disburse == Decimal("0.00")


def test_a_cancellation_without_a_reason_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")

    error = refuses(
        project,
        InvalidValueError,
        lambda: project.cancel_commitment(
            commitment_id=commitment_id, amount="10.00", cancelled_on=LATER, reason=" "
        ),
    )

    assert isinstance(error, InvalidValueError)
    assert error.field == "reason"


# Corrections -------------------------------------------------------------------------------


def test_correcting_a_commitment_amount_changes_the_amount() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")

    project.correct_commitment_amount(
        commitment_id=commitment_id, amount="1500.00", reason="typing error"
    )

    commitment = project.commitment(commitment_id)
    assert commitment.amount == Decimal("1500.00")
    assert commitment.committed_on == GRANTED_ON


def test_correcting_an_amount_below_what_was_disbursed_and_cancelled_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")
    project.disburse(commitment_id=commitment_id, amount="300.00", disbursed_on=LATER)
    project.cancel_commitment(
        commitment_id=commitment_id, amount="200.00", cancelled_on=LATER, reason="x"
    )
    project.collect_events()

    refuses(
        project,
        AmountExceedsError,
        lambda: project.correct_commitment_amount(
            commitment_id=commitment_id, amount="499.99", reason="typing error"
        ),
    )


def test_correcting_an_amount_down_to_what_was_disbursed_and_cancelled_is_accepted() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")
    project.disburse(commitment_id=commitment_id, amount="300.00", disbursed_on=LATER)
    project.cancel_commitment(
        commitment_id=commitment_id, amount="200.00", cancelled_on=LATER, reason="x"
    )

    project.correct_commitment_amount(
        commitment_id=commitment_id, amount="500.00", reason="typing error"
    )

    assert project.commitment(commitment_id).to_disburse == Decimal("0.00")


def test_correcting_a_commitment_to_its_current_amount_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project, "1000.00")

    refuses(
        project,
        BusinessRuleError,
        lambda: project.correct_commitment_amount(
            commitment_id=commitment_id, amount="1000", reason="typing error"
        ),
    )


def test_correcting_the_project_territory_moves_it() -> None:
    project = identified_project()

    project.correct_details(territory="commune:59350", reason="wrong commune")

    assert project.territory == "commune:59350"
    [corrected] = project.collect_events()
    assert isinstance(corrected, Project.ProjectDetailsCorrected)
    assert corrected.territory == "commune:59350"


def test_correcting_the_project_territory_outside_its_directorate_is_refused() -> None:
    project = identified_project()

    refuses(
        project,
        OutOfScopeError,
        lambda: project.correct_details(territory="commune:75056", reason="moved"),
    )


def test_correcting_the_project_territory_to_an_unknown_code_is_refused() -> None:
    project = identified_project()

    refuses(
        project,
        UnknownTerritoryError,
        lambda: project.correct_details(territory="commune:00000", reason="moved"),
    )


def test_correcting_the_project_theme_to_an_unknown_code_is_refused() -> None:
    project = identified_project()

    refuses(
        project,
        UnknownThemeError,
        lambda: project.correct_details(theme="space_travel", reason="wrong theme"),
    )


def test_correcting_the_project_programme_to_an_unknown_code_is_refused() -> None:
    project = identified_project()

    refuses(
        project,
        UnknownProgrammeError,
        lambda: project.correct_details(programme="grand_paris_express", reason="x"),
    )


def test_clearing_the_programme_removes_it() -> None:
    project = identified_project(programme="action_coeur_de_ville", estimated_cost="1000.00")

    project.correct_details(cleared=("programme",), reason="not in the programme")

    assert project.programme is None
    assert project.estimated_cost == Decimal("1000.00")


def test_setting_and_clearing_the_programme_in_one_correction_is_refused() -> None:
    project = identified_project(programme="action_coeur_de_ville")

    refuses(
        project,
        InvalidValueError,
        lambda: project.correct_details(
            programme="petites_villes_de_demain", cleared=("programme",), reason="x"
        ),
    )


def test_clearing_a_detail_that_cannot_be_cleared_is_refused() -> None:
    project = identified_project()

    refuses(
        project,
        InvalidValueError,
        lambda: project.correct_details(cleared=("theme",), reason="x"),
    )


def test_a_correction_that_corrects_nothing_is_refused() -> None:
    project = identified_project()

    refuses(project, InvalidValueError, lambda: project.correct_details(reason="nothing"))


# Studies, indicators, closing --------------------------------------------------------------


def test_delivering_a_study_records_its_delivery_date() -> None:
    project = identified_project()
    commitment_id = with_study(project)

    project.deliver_study(commitment_id=commitment_id, delivered_on=LATER)

    assert project.commitment(commitment_id).delivered_on == LATER


def test_delivering_a_study_twice_is_refused() -> None:
    project = identified_project()
    commitment_id = with_study(project)
    project.deliver_study(commitment_id=commitment_id, delivered_on=LATER)
    project.collect_events()

    refuses(
        project,
        BusinessRuleError,
        lambda: project.deliver_study(commitment_id=commitment_id, delivered_on=date(2024, 7, 1)),
    )


def test_delivering_a_loan_as_a_study_is_refused() -> None:
    project = identified_project()
    commitment_id = with_loan(project)

    refuses(
        project,
        BusinessRuleError,
        lambda: project.deliver_study(commitment_id=commitment_id, delivered_on=LATER),
    )


def test_a_measured_indicator_is_kept_with_its_measures() -> None:
    project = identified_project()
    project.set_indicator(
        indicator="passengers_per_day", unit="passengers", target="12000", due_on=date(2027, 1, 1)
    )

    project.measure(indicator="passengers_per_day", value="4500", measured_on=LATER)

    indicator = project.indicators["passengers_per_day"]
    assert indicator.target == Decimal("12000")
    assert indicator.measurements == [(LATER, Decimal("4500"))]


def test_resetting_an_indicator_keeps_its_measures() -> None:
    project = identified_project()
    project.set_indicator(indicator="jobs", unit="jobs", target="100", due_on=date(2027, 1, 1))
    project.measure(indicator="jobs", value="40", measured_on=LATER)

    project.set_indicator(indicator="jobs", unit="jobs", target="150", due_on=date(2028, 1, 1))

    assert project.indicators["jobs"].target == Decimal("150")
    assert project.indicators["jobs"].measurements == [(LATER, Decimal("40"))]


def test_measuring_an_unknown_indicator_is_refused() -> None:
    project = identified_project()

    refuses(
        project,
        NotFoundError,
        lambda: project.measure(indicator="jobs", value="40", measured_on=LATER),
    )


def test_completing_a_project_closes_it() -> None:
    project = identified_project()

    project.complete(on=LATER, reason="delivered")

    assert project.status is ProjectStatus.COMPLETED
    assert project.closed_on == LATER
    assert not project.is_open


def test_abandoning_a_project_closes_it() -> None:
    project = identified_project()

    project.abandon(on=LATER)

    assert project.status is ProjectStatus.ABANDONED
    assert project.closed_on == LATER


def test_closing_a_closed_project_again_is_refused() -> None:
    project = identified_project()
    project.complete(on=LATER)
    project.collect_events()

    refuses(project, ProjectClosedError, lambda: project.abandon(on=LATER))


def test_closing_a_project_before_its_identification_is_refused() -> None:
    project = identified_project()

    refuses(project, BusinessRuleError, lambda: project.complete(on=date(2024, 1, 14)))


def test_linking_a_project_twice_to_the_same_convention_is_refused() -> None:
    project = identified_project()
    convention_id = uuid4()
    project.link_to_convention(convention_id=convention_id)
    project.collect_events()

    refuses(
        project,
        BusinessRuleError,
        lambda: project.link_to_convention(convention_id=convention_id),
    )


# Copies for commands ------------------------------------------------------------------------

IMMUTABLE = (str, int, Decimal, date, UUID, type(None), ProjectStatus, Instrument)


def busy_project() -> Project:
    project = identified_project()
    loan = with_loan(project, "5000.00")
    with_study(project)
    project.disburse(commitment_id=loan, amount="1000.00", disbursed_on=date(2024, 6, 3))
    project.link_to_convention(convention_id=uuid4())
    project.set_indicator(
        indicator="homes", unit="logements", target="20", due_on=date(2026, 12, 31)
    )
    project.measure(indicator="homes", value="4", measured_on=date(2025, 1, 2))
    return project


def test_a_copy_for_a_command_equals_the_original_and_shares_nothing_mutable() -> None:
    import copy

    original = busy_project()
    clone = copy.deepcopy(original)
    assert type(clone) is Project
    assert vars(clone) == vars(original)
    # Every field is immutable, or one of the containers the copy makes anew: a new
    # mutable field must be copied in Project.__deepcopy__ too.
    copied = {
        "_pending_events",
        "commitments",
        "voided",
        "indicators",
        "conventions",
        "recent_facts",
    }
    for name, value in vars(original).items():
        assert name in copied or isinstance(value, (*IMMUTABLE, datetime)), name
        if name in copied:
            assert value is not getattr(clone, name), name
    # Commitments are immutable: shared by the copy, replaced (never changed) by events.
    for commitment in original.commitments.values():
        with pytest.raises(dataclasses.FrozenInstanceError):
            commitment.disbursed = Decimal("1.00")  # type: ignore[misc]
        with pytest.raises(TypeError):
            commitment.details["product"] = "changed"  # type: ignore[index]
    for code, indicator in original.indicators.items():
        assert clone.indicators[code].measurements is not indicator.measurements


def test_commands_on_a_copy_leave_the_original_alone() -> None:
    import copy

    original = busy_project()
    before = copy.deepcopy(vars(original))
    clone = copy.deepcopy(original)
    loan = next(iter(clone.commitments))
    clone.disburse(commitment_id=loan, amount="500.00", disbursed_on=date(2024, 7, 1))
    clone.measure(indicator="homes", value="9", measured_on=date(2025, 6, 1))
    clone.link_to_convention(convention_id=uuid4())
    clone.cancel_commitment(
        commitment_id=loan, amount="100.00", cancelled_on=date(2024, 7, 2), reason="scope"
    )
    assert vars(original) == before
    assert clone.commitments[loan].disbursed == original.commitments[loan].disbursed + 500
    assert clone.commitments[loan].cancelled == original.commitments[loan].cancelled + 100
    assert clone.version == original.version + 4
