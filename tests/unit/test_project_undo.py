"""Undoing an entry recorded in error on the Project aggregate: rules and recorded events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.errors import (
    BusinessRuleError,
    DuplicateCommitmentError,
    InvalidValueError,
    NotFoundError,
)
from domain.project import Project
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
