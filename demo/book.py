"""The one place the demo package builds commands: the stories and the bulk loads
book them here, in cents, and the book keeps what each project and commitment holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid5

from demo.planned import NAMESPACE, PlannedCommitment, PlannedProject, Step, eur
from domain.commands import (
    AbandonProject,
    CancelCommitment,
    Command,
    CompleteProject,
    CorrectCommitmentAmount,
    CorrectProject,
    DeliverStudy,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    LaunchStudy,
    LinkToConvention,
    Measure,
    RecordRepayment,
    SetIndicator,
    SignConvention,
)
from domain.reference import Instrument
from domain.reference.territories import Territory


class Book:
    """Commands in planning order, with ids drawn from `namespace` and counted from 1.

    With `references` (a prefix per directorate), each project gets a reference numbered
    per directorate and year of identification.
    """

    def __init__(
        self, namespace: UUID = NAMESPACE, references: Mapping[str, str] | None = None
    ) -> None:
        self.namespace = namespace
        self.references = references
        self.serials: dict[str, int] = {}
        self.steps: list[Step] = []
        self.projects = 0
        self.conventions = 0
        self.commitments = 0

    def _add(self, on: date, directorate: str, command: Command) -> None:
        self.steps.append(Step(on, len(self.steps), directorate, command))

    def _id(self, kind: str, key: str | int) -> UUID:
        return uuid5(self.namespace, f"{kind}:{key}")

    def sign_convention(
        self,
        key: str,
        *,
        title: str,
        directorate: str,
        signatories: list[str],
        themes: list[str],
        signed_on: date,
        ends_on: date,
        envelope: int,
    ) -> UUID:
        """Sign a convention known by `key`; return its id."""
        convention_id = self._id("convention", key)
        command = SignConvention(
            convention_id=convention_id,
            title=title,
            directorate=directorate,
            signatories=signatories,
            themes=themes,
            signed_on=signed_on,
            ends_on=ends_on,
            envelope=eur(envelope),
        )
        self._add(signed_on, directorate, command)
        self.conventions += 1
        return convention_id

    def identify(
        self,
        directorate: str,
        territory: Territory,
        *,
        name: str,
        theme: str,
        on: date,
        programme: str | None = None,
        estimated_cost: int | None = None,
    ) -> PlannedProject:
        """Identify the next project."""
        project_id = self._id("project", self.projects + 1)
        project = PlannedProject(project_id, directorate, territory, theme, on, on, estimated_cost)
        reference = None
        if self.references is not None:
            serial = self.serials[directorate] = self.serials.get(directorate, 0) + 1
            reference = f"{self.references[directorate]}-{on.year}-{serial:04d}"
        command = IdentifyProject(
            project_id=project_id,
            name=name,
            territory=territory.code,
            theme=theme,
            directorate=directorate,
            identified_on=on,
            programme=programme,
            estimated_cost=None if estimated_cost is None else eur(estimated_cost),
            reference=reference,
        )
        self._add(on, directorate, command)
        self.projects += 1
        return project

    def link(self, project: PlannedProject, convention_id: UUID, signed_on: date) -> None:
        """Link a project to a convention, once both exist."""
        on = max(project.identified_on, signed_on)
        command = LinkToConvention(project_id=project.id, convention_id=convention_id)
        self._on_project(project, on, command)

    def _commitment(
        self, project: PlannedProject, instrument: Instrument, amount: int, on: date
    ) -> PlannedCommitment:
        self.commitments += 1
        commitment = PlannedCommitment(
            self._id("commitment", self.commitments), project, instrument, amount, on, on
        )
        project.commitments.append(commitment)
        project.last = max(project.last, on)
        return commitment

    def loan(
        self,
        project: PlannedProject,
        on: date,
        amount: int,
        *,
        years: int,
        rate: Decimal | None = None,
        product: str | None = None,
    ) -> PlannedCommitment:
        """Grant a loan over `years`."""
        commitment = self._commitment(project, Instrument.LOAN, amount, on)
        commitment.years = years
        command = GrantLoan(
            project_id=project.id,
            commitment_id=commitment.id,
            amount=eur(amount),
            granted_on=on,
            duration_months=years * 12,
            rate=rate,
            product=product,
        )
        self._add(on, project.directorate, command)
        return commitment

    def equity(
        self,
        project: PlannedProject,
        on: date,
        amount: int,
        *,
        stake: Decimal | None = None,
        vehicle: str | None = None,
    ) -> PlannedCommitment:
        """Take an equity stake."""
        commitment = self._commitment(project, Instrument.EQUITY, amount, on)
        command = InvestEquity(
            project_id=project.id,
            commitment_id=commitment.id,
            amount=eur(amount),
            invested_on=on,
            stake_percent=stake,
            vehicle=vehicle,
        )
        self._add(on, project.directorate, command)
        return commitment

    def study(
        self,
        project: PlannedProject,
        on: date,
        amount: int,
        *,
        subject: str,
        provider: str | None = None,
    ) -> PlannedCommitment:
        """Launch a study."""
        commitment = self._commitment(project, Instrument.STUDY, amount, on)
        command = LaunchStudy(
            project_id=project.id,
            commitment_id=commitment.id,
            amount=eur(amount),
            launched_on=on,
            subject=subject,
            provider=provider,
        )
        self._add(on, project.directorate, command)
        return commitment

    def deliver(self, commitment: PlannedCommitment, on: date) -> None:
        """Deliver a study."""
        command = DeliverStudy(
            project_id=commitment.project.id, commitment_id=commitment.id, delivered_on=on
        )
        self._on_commitment(commitment, on, command)
        commitment.delivered_on = on

    def disburse(self, commitment: PlannedCommitment, on: date, amount: int) -> None:
        """Disburse under a commitment."""
        command = Disburse(
            project_id=commitment.project.id,
            commitment_id=commitment.id,
            amount=eur(amount),
            disbursed_on=on,
        )
        self._on_commitment(commitment, on, command)
        commitment.disbursed += amount

    def repay(self, commitment: PlannedCommitment, on: date, principal: int) -> None:
        """Record principal repaid on a loan."""
        command = RecordRepayment(
            project_id=commitment.project.id,
            commitment_id=commitment.id,
            principal=eur(principal),
            repaid_on=on,
        )
        self._on_commitment(commitment, on, command)
        commitment.repaid += principal

    def cancel(self, commitment: PlannedCommitment, on: date, amount: int, reason: str) -> None:
        """Cancel money not yet disbursed."""
        command = CancelCommitment(
            project_id=commitment.project.id,
            commitment_id=commitment.id,
            amount=eur(amount),
            cancelled_on=on,
            reason=reason,
        )
        self._on_commitment(commitment, on, command)
        commitment.cancelled += amount

    def correct_amount(self, commitment: PlannedCommitment, amount: int, reason: str) -> None:
        """Correct a commitment's amount, the day it was recorded (before any money moved)."""
        project = commitment.project
        command = CorrectCommitmentAmount(
            project_id=project.id, commitment_id=commitment.id, amount=eur(amount), reason=reason
        )
        self._add(commitment.on, project.directorate, command)
        commitment.amount = amount

    def correct_project(
        self,
        project: PlannedProject,
        on: date,
        reason: str,
        *,
        name: str | None = None,
        territory: str | None = None,
        theme: str | None = None,
        estimated_cost: int | None = None,
        cleared: tuple[str, ...] = (),
    ) -> None:
        """Correct a project's details; the planned project keeps its first territory."""
        command = CorrectProject(
            project_id=project.id,
            reason=reason,
            name=name,
            territory=territory,
            theme=theme,
            estimated_cost=None if estimated_cost is None else eur(estimated_cost),
            cleared=cleared,
        )
        self._on_project(project, on, command)

    def set_indicator(
        self,
        project: PlannedProject,
        on: date,
        *,
        indicator: str,
        unit: str,
        target: int,
        due: date,
    ) -> None:
        """Set an impact indicator, from a baseline of 0."""
        command = SetIndicator(
            project_id=project.id,
            indicator=indicator,
            unit=unit,
            target=target,
            due_on=due,
            baseline=0,
        )
        self._on_project(project, on, command)

    def measure(self, project: PlannedProject, on: date, *, indicator: str, value: int) -> None:
        """Measure an impact indicator."""
        command = Measure(project_id=project.id, indicator=indicator, value=value, measured_on=on)
        self._on_project(project, on, command)

    def complete(self, project: PlannedProject, on: date, reason: str) -> None:
        """Close a project as completed."""
        self._close(project, on, CompleteProject(project_id=project.id, on=on, reason=reason))

    def abandon(self, project: PlannedProject, on: date, reason: str) -> None:
        """Close a project as abandoned."""
        self._close(project, on, AbandonProject(project_id=project.id, on=on, reason=reason))

    def _on_project(self, project: PlannedProject, on: date, command: Command) -> None:
        self._add(on, project.directorate, command)
        project.last = max(project.last, on)

    def _on_commitment(self, commitment: PlannedCommitment, on: date, command: Command) -> None:
        self._add(on, commitment.project.directorate, command)
        commitment.last = max(commitment.last, on)
        commitment.project.last = max(commitment.project.last, on)

    def _close(self, project: PlannedProject, on: date, command: Command) -> None:
        self._add(on, project.directorate, command)
        project.last = on
