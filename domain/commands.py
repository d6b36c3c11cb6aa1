"""Commands: one frozen dataclass per write to the ledger, naming its fields once.

A command is data. The HTTP bodies are derived from its fields, the CSV import, the demo and
the synthetic generator build it, and `Ledger.execute` runs it. A command applies itself to
its aggregate by calling the aggregate's method of the same fields; the aggregate checks
every rule and records the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Protocol
from uuid import UUID

from domain.convention import Convention
from domain.errors import InvalidValueError
from domain.project import Project
from domain.reference import Instrument
from domain.values import money, new_id


class Number(StrEnum):
    """What a number field holds: money (at most 2 decimals) or a measure."""

    MONEY = "money"
    QUANTITY = "quantity"


# A number is taken as sent (Decimal, or its text) and judged by the aggregate.
Money = Annotated[Decimal | str | int, Number.MONEY]
Quantity = Annotated[Decimal | str | int, Number.QUANTITY]


class Reads(Protocol):
    """What a command may read besides its own aggregate."""

    def convention(self, convention_id: UUID) -> Convention:
        """Return a convention."""
        ...


@dataclass(frozen=True, kw_only=True)
class Command:
    """A write to the ledger."""

    def arguments(self, *leave_out: str) -> dict[str, Any]:
        """The command's fields as keyword arguments, without those left out."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in leave_out}


# Creating commands ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IdentifyProject(Command):
    """Identify a project (ProjectIdentified); a reference is unique within its directorate."""

    project_id: UUID = field(default_factory=new_id)
    name: str
    territory: str
    theme: str
    directorate: str
    identified_on: date
    programme: str | None = None
    estimated_cost: Money | None = None
    reference: str | None = None

    def create(self) -> Project:
        """The new project."""
        return Project.identify(**self.arguments())


@dataclass(frozen=True, kw_only=True)
class SignConvention(Command):
    """Sign a partnership convention (ConventionSigned)."""

    convention_id: UUID = field(default_factory=new_id)
    title: str
    directorate: str
    signatories: list[str]
    themes: list[str]
    signed_on: date
    ends_on: date | None = None
    envelope: Money | None = None

    def create(self) -> Convention:
        """The new convention."""
        return Convention.sign(**self.arguments())


CreatingCommand = IdentifyProject | SignConvention


# Commands on a project ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProjectCommand(Command):
    """A change to one project: the project method named `method`, called with the fields."""

    method: ClassVar[str]
    project_id: UUID

    @property
    def commitment(self) -> UUID | None:
        """The commitment the command records or changes, if any."""
        commitment_id: UUID | None = getattr(self, "commitment_id", None)
        return commitment_id

    def check(self, reads: Reads) -> None:
        """Refuse before the project is loaded (for rules on other aggregates)."""

    def apply(self, project: Project, reads: Reads) -> None:  # noqa: ARG002
        """Change the project, or raise a DomainError to refuse."""
        project.require_not_voided()
        getattr(project, self.method)(**self.arguments("project_id"))

    def recorded_in(self, project: Project) -> bool:  # noqa: ARG002
        """Whether the project already holds this command's change (a re-sent import row)."""
        return False


@dataclass(frozen=True, kw_only=True)
class CorrectProject(ProjectCommand):
    """Correct a project's details (ProjectDetailsCorrected); null clears programme or cost."""

    method = "correct_details"
    reason: str
    name: str | None = None
    territory: str | None = None
    theme: str | None = None
    programme: str | None = None
    estimated_cost: Money | None = None
    cleared: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class NewCommitment(ProjectCommand):
    """A command that commits money under a new commitment id."""

    instrument: ClassVar[Instrument]
    commitment_id: UUID = field(default_factory=new_id)
    amount: Money

    @property
    def committed_on(self) -> date:
        """The commitment's date."""
        raise NotImplementedError

    def recorded_in(self, project: Project) -> bool:
        """Whether the project holds this commitment already: same id, kind, date and amount."""
        existing = project.commitments.get(self.commitment_id)
        if existing is None:
            return False
        try:
            amount = money(self.amount)
        except InvalidValueError:
            return False
        return (
            existing.instrument is self.instrument
            and existing.committed_on == self.committed_on
            and existing.amount == amount
        )


@dataclass(frozen=True, kw_only=True)
class GrantLoan(NewCommitment):
    """Grant a loan to a project (LoanGranted)."""

    method = "grant_loan"
    instrument = Instrument.LOAN
    granted_on: date
    duration_months: int
    rate: Quantity | None = None
    product: str | None = None

    @property
    def committed_on(self) -> date:
        """The grant date."""
        return self.granted_on


@dataclass(frozen=True, kw_only=True)
class InvestEquity(NewCommitment):
    """Take an equity stake in a project (EquityInvested)."""

    method = "invest_equity"
    instrument = Instrument.EQUITY
    invested_on: date
    stake_percent: Quantity | None = None
    vehicle: str | None = None

    @property
    def committed_on(self) -> date:
        """The investment date."""
        return self.invested_on


@dataclass(frozen=True, kw_only=True)
class LaunchStudy(NewCommitment):
    """Launch an engineering study for a project (StudyLaunched)."""

    method = "launch_study"
    instrument = Instrument.STUDY
    launched_on: date
    subject: str
    provider: str | None = None

    @property
    def committed_on(self) -> date:
        """The launch date."""
        return self.launched_on


@dataclass(frozen=True, kw_only=True)
class DeliverStudy(ProjectCommand):
    """Record a study's delivery (StudyDelivered)."""

    method = "deliver_study"
    commitment_id: UUID
    delivered_on: date


@dataclass(frozen=True, kw_only=True)
class Disburse(ProjectCommand):
    """Disburse money under a commitment, up to what remains to disburse (FundsDisbursed)."""

    method = "disburse"
    commitment_id: UUID
    amount: Money
    disbursed_on: date


@dataclass(frozen=True, kw_only=True)
class RecordRepayment(ProjectCommand):
    """Record principal repaid on a loan, up to what is outstanding (LoanRepaid)."""

    method = "record_repayment"
    commitment_id: UUID
    principal: Money
    repaid_on: date


@dataclass(frozen=True, kw_only=True)
class CancelCommitment(ProjectCommand):
    """Cancel money committed and not yet disbursed (CommitmentCancelled)."""

    method = "cancel_commitment"
    commitment_id: UUID
    amount: Money
    cancelled_on: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class CorrectCommitmentAmount(ProjectCommand):
    """Correct a commitment's recorded amount; it counts at the original date."""

    method = "correct_commitment_amount"
    commitment_id: UUID
    amount: Money
    reason: str


@dataclass(frozen=True, kw_only=True)
class VoidCommitment(ProjectCommand):
    """Void a commitment recorded in error, with its movements (CommitmentVoided)."""

    method = "void_commitment"
    commitment_id: UUID
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReverseDisbursement(ProjectCommand):
    """Reverse a disbursement recorded in error, named by its number (DisbursementReversed)."""

    method = "reverse_disbursement"
    commitment_id: UUID
    number: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReverseRepayment(ProjectCommand):
    """Reverse a repayment recorded in error, named by its number (RepaymentReversed)."""

    method = "reverse_repayment"
    commitment_id: UUID
    number: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class CorrectCommitmentDate(ProjectCommand):
    """Correct a commitment's effective date; its money moves to the new period."""

    method = "correct_commitment_date"
    commitment_id: UUID
    on: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class VoidProject(ProjectCommand):
    """Void a project recorded in error, once no money remains committed (ProjectVoided)."""

    method = "void"
    reason: str


@dataclass(frozen=True, kw_only=True)
class SetIndicator(ProjectCommand):
    """Set (or reset) an impact indicator with its target (ImpactIndicatorSet)."""

    method = "set_indicator"
    indicator: str
    unit: str
    target: Quantity
    due_on: date
    baseline: Quantity | None = None


@dataclass(frozen=True, kw_only=True)
class Measure(ProjectCommand):
    """Record a measure of an impact indicator (ImpactMeasured)."""

    method = "measure"
    indicator: str
    value: Quantity
    measured_on: date


@dataclass(frozen=True, kw_only=True)
class CloseProject(ProjectCommand):
    """Close a project (completed or abandoned)."""

    on: date
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class CompleteProject(CloseProject):
    """Close a project as completed (ProjectCompleted)."""

    method = "complete"


@dataclass(frozen=True, kw_only=True)
class AbandonProject(CloseProject):
    """Close a project as abandoned (ProjectAbandoned)."""

    method = "abandon"


@dataclass(frozen=True, kw_only=True)
class LinkToConvention(ProjectCommand):
    """Place a project under a convention in force (ProjectLinkedToConvention)."""

    method = "link_to_convention"
    convention_id: UUID

    def check(self, reads: Reads) -> None:
        """The convention exists and is in force."""
        reads.convention(self.convention_id).require_in_force()

    def apply(self, project: Project, reads: Reads) -> None:
        """Link, if the convention's directorate is the project's."""
        reads.convention(self.convention_id).require_partner(project.directorate)
        super().apply(project, reads)


@dataclass(frozen=True, kw_only=True)
class InDirectorate(ProjectCommand):
    """Another command, run only on a project of the directorate the writer names."""

    directorate: str
    command: ProjectCommand

    @property
    def commitment(self) -> UUID | None:
        """The inner command's commitment."""
        return self.command.commitment

    def check(self, reads: Reads) -> None:
        """The inner command's checks."""
        self.command.check(reads)

    def apply(self, project: Project, reads: Reads) -> None:
        """Refuse a project of another directorate, else run the inner command."""
        if project.directorate != self.directorate:
            raise InvalidValueError(
                "directorate", f"the project belongs to {project.directorate!r}"
            )
        self.command.apply(project, reads)

    def recorded_in(self, project: Project) -> bool:
        """Whether the inner command's change is already recorded (in the right directorate)."""
        return project.directorate == self.directorate and self.command.recorded_in(project)


# Every command a client sends: the API derives one request body from each.
WRITES: tuple[type[Command], ...] = (
    IdentifyProject,
    CorrectProject,
    GrantLoan,
    InvestEquity,
    LaunchStudy,
    DeliverStudy,
    Disburse,
    RecordRepayment,
    CancelCommitment,
    CorrectCommitmentAmount,
    VoidCommitment,
    ReverseDisbursement,
    ReverseRepayment,
    VoidProject,
    CorrectCommitmentDate,
    SetIndicator,
    Measure,
    CompleteProject,
    AbandonProject,
    SignConvention,
    LinkToConvention,
)
