"""Undoing an entry recorded in error on the Project aggregate: rules and recorded events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from domain.errors import (
    AmountExceedsError,
    BusinessRuleError,
    DuplicateCommitmentError,
    InvalidValueError,
    NotFoundError,
)
from domain.project import Project
from domain.values import ProjectStatus
from tests.unit.test_project import GRANTED_ON, LATER, identified_project, with_loan


def test_voiding_a_commitment_keeps_it_in_history_with_what_it_moved() -> None:
    project = identified_project()
    loan = with_loan(project, "1000.00")
    project.disburse(commitment_id=loan, amount="400.00", disbursed_on=LATER)
    project.record_repayment(commitment_id=loan, principal="100.00", repaid_on=LATER)
    project.cancel_commitment(
        commitment_id=loan, amount="50.00", cancelled_on=LATER, reason="solde"
    )
    project.collect_events()

    project.void_commitment(commitment_id=loan, reason="saisi deux fois")

    (voided,) = project.collect_events()
    assert isinstance(voided, Project.CommitmentVoided)
    assert (voided.amount, voided.cancelled, voided.disbursed, voided.repaid) == (
        Decimal("1000.00"),
        Decimal("50.00"),
        Decimal("400.00"),
        Decimal("100.00"),
    )
    assert voided.reason == "saisi deux fois"
    assert loan not in project.commitments
    assert project.voided[loan].disbursed == Decimal("400.00")


def test_a_voided_commitment_takes_no_more_commands_and_is_not_voided_twice() -> None:
    project = identified_project()
    loan = with_loan(project)
    project.void_commitment(commitment_id=loan, reason="erreur")
    project.collect_events()

    attempts: list[Callable[[], None]] = [
        lambda: project.void_commitment(commitment_id=loan, reason="encore"),
        lambda: project.disburse(commitment_id=loan, amount="1.00", disbursed_on=LATER),
        lambda: project.correct_commitment_amount(commitment_id=loan, amount="5.00", reason="r"),
        lambda: project.grant_loan(
            commitment_id=loan, amount="1.00", granted_on=GRANTED_ON, duration_months=12
        ),
    ]
    for refused in attempts:
        with pytest.raises((BusinessRuleError, DuplicateCommitmentError)):
            refused()
    assert project.collect_events() == []


def test_voiding_needs_a_reason_and_a_commitment_of_the_project() -> None:
    project = identified_project()
    loan = with_loan(project)
    with pytest.raises(InvalidValueError):
        project.void_commitment(commitment_id=loan, reason="   ")
    with pytest.raises(NotFoundError):
        project.void_commitment(commitment_id=uuid4(), reason="erreur")
    assert project.collect_events() == []
    assert loan in project.commitments


def test_a_commitment_is_voided_on_a_closed_project_too() -> None:
    project = identified_project()
    loan = with_loan(project)
    project.complete(on=date(2025, 1, 1))
    project.void_commitment(commitment_id=loan, reason="jamais signé")
    assert loan in project.voided


def disbursed_and_repaid_loan(project: Project) -> UUID:
    loan = with_loan(project, "1000.00")
    project.disburse(commitment_id=loan, amount="400.00", disbursed_on=LATER)
    project.disburse(commitment_id=loan, amount="300.00", disbursed_on=date(2024, 7, 1))
    project.record_repayment(commitment_id=loan, principal="350.00", repaid_on=date(2024, 9, 1))
    project.collect_events()
    return loan


def test_reversing_a_disbursement_takes_its_amount_back_and_names_it_by_number() -> None:
    project = identified_project()
    loan = disbursed_and_repaid_loan(project)

    project.reverse_disbursement(commitment_id=loan, number=2, reason="saisi deux fois")

    (reversed_,) = project.collect_events()
    assert isinstance(reversed_, Project.DisbursementReversed)
    assert (reversed_.amount, reversed_.disbursed_on) == (Decimal("300.00"), date(2024, 7, 1))
    commitment = project.commitments[loan]
    assert commitment.disbursed == Decimal("400.00")
    assert [m.reversed for m in commitment.disbursements] == [False, True]
    with pytest.raises(BusinessRuleError, match="already reversed"):
        project.reverse_disbursement(commitment_id=loan, number=2, reason="encore")


def test_a_disbursement_repayments_still_need_is_reversed_only_after_them() -> None:
    project = identified_project()
    loan = disbursed_and_repaid_loan(project)

    with pytest.raises(AmountExceedsError, match="reverse the repayments"):
        project.reverse_disbursement(commitment_id=loan, number=1, reason="erreur")
    project.reverse_repayment(commitment_id=loan, number=1, reason="erreur")
    project.reverse_disbursement(commitment_id=loan, number=1, reason="erreur")

    commitment = project.commitments[loan]
    assert (commitment.disbursed, commitment.repaid) == (Decimal("300.00"), Decimal("0.00"))


def test_a_reversal_names_an_existing_movement_and_gives_a_reason() -> None:
    project = identified_project()
    loan = disbursed_and_repaid_loan(project)
    for number, error in ((0, InvalidValueError), (3, NotFoundError)):
        with pytest.raises(error):
            project.reverse_disbursement(commitment_id=loan, number=number, reason="erreur")
    with pytest.raises(NotFoundError):
        project.reverse_repayment(commitment_id=loan, number=2, reason="erreur")
    with pytest.raises(InvalidValueError):
        project.reverse_repayment(commitment_id=loan, number=1, reason="")
    assert project.collect_events() == []


def test_a_project_is_voided_only_once_no_money_remains_committed_to_it() -> None:
    project = identified_project()
    loan = with_loan(project, "1000.00")
    study = uuid4()
    project.launch_study(
        commitment_id=study, amount="200.00", launched_on=GRANTED_ON, subject="Étude"
    )
    project.cancel_commitment(
        commitment_id=study, amount="200.00", cancelled_on=LATER, reason="abandonnée"
    )
    project.collect_events()

    with pytest.raises(BusinessRuleError, match=str(loan)):
        project.void(reason="saisi deux fois")
    project.void_commitment(commitment_id=loan, reason="saisi deux fois")
    project.void(reason="saisi deux fois")

    assert isinstance(project.collect_events()[-1], Project.ProjectVoided)
    assert project.status is ProjectStatus.VOIDED
    assert not project.is_open
    with pytest.raises(BusinessRuleError, match="already voided"):
        project.void(reason="encore")
    with pytest.raises(InvalidValueError):
        identified_project().void(reason="")


def test_a_commitment_date_is_corrected_up_to_its_first_movement() -> None:
    project = identified_project()
    loan = with_loan(project, "1000.00", on=date(2099, 3, 1))
    project.correct_commitment_date(commitment_id=loan, on=GRANTED_ON, reason="année 2099")
    project.disburse(commitment_id=loan, amount="100.00", disbursed_on=LATER)

    (corrected, _) = project.collect_events()
    assert isinstance(corrected, Project.CommitmentDateCorrected)
    assert (corrected.committed_on, corrected.was) == (GRANTED_ON, date(2099, 3, 1))
    assert project.commitments[loan].committed_on == GRANTED_ON
    for on, match in (
        (date(2024, 7, 1), "precedes its movements"),
        (date(2023, 1, 1), "identification"),
        (GRANTED_ON, "already dated"),
    ):
        with pytest.raises(BusinessRuleError, match=match):
            project.correct_commitment_date(commitment_id=loan, on=on, reason="r")
    project.correct_commitment_date(commitment_id=loan, on=LATER, reason="le jour même")
    assert project.commitments[loan].committed_on == LATER
