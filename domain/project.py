"""The Project aggregate: a territorial project and the money committed to it."""

from __future__ import annotations

from dataclasses import field, replace
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.commitments import Commitment, CommitmentRules, Movement
from domain.errors import BusinessRuleError, InvalidValueError, OutOfScopeError, ProjectClosedError
from domain.indicators import Indicator, IndicatorRules
from domain.reference import Instrument
from domain.reference import directorate as find_directorate
from domain.reference import programme as check_programme
from domain.reference import theme as check_theme
from domain.reference.territories import TerritoryLevel, load_territories
from domain.undo import UndoRules
from domain.values import ProjectStatus, effective_date, money, text


def check_territory_in_directorate(territory: str, directorate_code: str) -> None:
    """Refuse a territory outside the regions the directorate covers."""
    place = load_territories().get(territory)
    covering = find_directorate(directorate_code)
    region = place.at_level(TerritoryLevel.REGION)
    if region not in covering.regions:
        raise OutOfScopeError(
            f"territory {territory!r} ({place.name}) lies outside the regions of "
            f"directorate {directorate_code!r}"
        )


class Project(CommitmentRules, UndoRules, IndicatorRules, Aggregate):
    """A territorial project: identified by a directorate, funded by commitments.

    The commitment and indicator commands come from the mixins; every event class and
    `@event` method stays here, as the library only decorates those in the aggregate's body.
    """

    class Event(Aggregate.Event):
        """Base of every project event; `meta` records actor, directorate and correlation id."""

        meta: dict[str, str] = field(default_factory=dict, kw_only=True)

        def apply(self, aggregate: Any) -> None:
            # After the event's own method: a money fact is remembered for a day.
            super().apply(aggregate)
            aggregate.remember(self)

    class ProjectIdentified(Event, Aggregate.Created):
        name: str
        territory: str
        theme: str
        programme: str | None
        directorate: str
        estimated_cost: Decimal | None
        identified_on: date
        reference: str | None

    class ProjectDetailsCorrected(Event):
        name: str | None
        territory: str | None
        theme: str | None
        programme: str | None
        estimated_cost: Decimal | None
        cleared: list[str]
        reason: str

    class LoanGranted(Event):
        commitment_id: UUID
        amount: Decimal
        granted_on: date
        duration_months: int
        rate: Decimal | None
        product: str | None

    class EquityInvested(Event):
        commitment_id: UUID
        amount: Decimal
        invested_on: date
        stake_percent: Decimal | None
        vehicle: str | None

    class StudyLaunched(Event):
        commitment_id: UUID
        amount: Decimal
        launched_on: date
        subject: str
        provider: str | None

    class StudyDelivered(Event):
        commitment_id: UUID
        delivered_on: date

    class FundsDisbursed(Event):
        commitment_id: UUID
        amount: Decimal
        disbursed_on: date

    class LoanRepaid(Event):
        commitment_id: UUID
        principal: Decimal
        repaid_on: date

    class CommitmentCancelled(Event):
        commitment_id: UUID
        amount: Decimal
        cancelled_on: date
        reason: str

    class CommitmentAmountCorrected(Event):
        commitment_id: UUID
        amount: Decimal
        reason: str

    class CommitmentVoided(Event):
        """A commitment recorded in error: it and its movements leave every figure."""

        commitment_id: UUID
        reason: str
        # What it left, for the read models: its amount and the money moved under it.
        amount: Decimal
        cancelled: Decimal
        disbursed: Decimal
        repaid: Decimal

    class DisbursementReversed(Event):
        """A disbursement recorded in error (its number under the commitment) leaves the figures."""

        commitment_id: UUID
        number: int
        amount: Decimal
        disbursed_on: date
        reason: str

    class RepaymentReversed(Event):
        """A repayment recorded in error (its number under the loan) leaves the figures."""

        commitment_id: UUID
        number: int
        principal: Decimal
        repaid_on: date
        reason: str

    class ProjectVoided(Event):
        """A project recorded in error: counted nowhere, kept in history."""

        reason: str

    class CommitmentDateCorrected(Event):
        """A commitment's effective date recorded in error: its money moves to the new one."""

        commitment_id: UUID
        committed_on: date
        was: date
        reason: str

    class ProjectLinkedToConvention(Event):
        convention_id: UUID

    class ImpactIndicatorSet(Event):
        indicator: str
        unit: str
        baseline: Decimal | None
        target: Decimal
        due_on: date

    class ImpactMeasured(Event):
        indicator: str
        value: Decimal
        measured_on: date

    class ProjectCompleted(Event):
        on: date
        reason: str | None

    class ProjectAbandoned(Event):
        on: date
        reason: str | None

    def __init__(
        self,
        name: str,
        territory: str,
        theme: str,
        programme: str | None,
        directorate: str,
        estimated_cost: Decimal | None,
        identified_on: date,
        reference: str | None,
    ) -> None:
        self.name = name
        self.territory = territory
        self.theme = theme
        self.programme = programme
        self.directorate = directorate
        self.estimated_cost = estimated_cost
        self.identified_on = identified_on
        self.reference = reference
        self.status = ProjectStatus.ACTIVE
        self.closed_on: date | None = None
        self.commitments: dict[UUID, Commitment] = {}
        self.voided: dict[UUID, Commitment] = {}
        self.indicators: dict[str, Indicator] = {}
        self.conventions: list[UUID] = []
        # The money facts of the last day before the latest, oldest first (possible duplicates).
        self.recent_facts: list[Project.Event] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> Project:
        """A copy to run commands on (the repository copies cached projects for each one).

        Fields hold immutable values (text, dates, Decimals, UUIDs, enums, commitments)
        except the containers copied here: far cheaper than a generic deep copy, and the
        same whatever the number of commitments.
        """
        clone = object.__new__(type(self))
        state = dict(self.__dict__)
        state["_pending_events"] = list(self._pending_events)
        state["commitments"] = dict(self.commitments)
        state["voided"] = dict(self.voided)
        state["indicators"] = {
            key: replace(indicator, measurements=list(indicator.measurements))
            for key, indicator in self.indicators.items()
        }
        state["conventions"] = list(self.conventions)
        state["recent_facts"] = list(self.recent_facts)
        clone.__dict__.update(state)
        memo[id(self)] = clone
        return clone

    def remember(self, event: Event) -> None:
        """Keep a money fact, and forget those a day older than it (`domain.duplicates`)."""
        if not isinstance(event, MONEY_FACTS):
            return
        facts = self.recent_facts
        # Without its metadata (stamped when saved): the same fact whether applied or replayed.
        facts.append(replace(event, meta={}) if event.meta else event)  # type: ignore[call-arg]
        edge = event.timestamp - RECENT
        while facts[0].timestamp < edge:
            facts.pop(0)

    # Commands ------------------------------------------------------------------------------

    @classmethod
    def identify(
        cls,
        *,
        project_id: UUID,
        name: str,
        territory: str,
        theme: str,
        directorate: str,
        identified_on: date,
        programme: str | None = None,
        estimated_cost: Decimal | str | None = None,
        reference: str | None = None,
    ) -> Project:
        """Identify a new project in a territory the directorate covers."""
        reference_text = None if reference is None else text(reference, "reference", max_length=64)
        check_territory_in_directorate(territory, directorate)
        return cls._create(
            cls.ProjectIdentified,
            id=project_id,
            name=text(name, "name", max_length=200),
            territory=territory,
            theme=check_theme(theme),
            programme=None if programme is None else check_programme(programme),
            directorate=directorate,
            estimated_cost=(
                None if estimated_cost is None else money(estimated_cost, "estimated_cost")
            ),
            identified_on=effective_date(identified_on, "identified_on"),
            reference=reference_text,
        )

    def correct_details(
        self,
        *,
        reason: str,
        name: str | None = None,
        territory: str | None = None,
        theme: str | None = None,
        programme: str | None = None,
        estimated_cost: Decimal | str | None = None,
        cleared: tuple[str, ...] = (),
    ) -> None:
        """Correct a recording error in the project's details; its money follows it."""
        for name_cleared in cleared:
            if name_cleared not in ("programme", "estimated_cost"):
                raise InvalidValueError(name_cleared, "only programme and estimated_cost clear")
        if "programme" in cleared and programme is not None:
            raise InvalidValueError("programme", "is both given and cleared")
        if "estimated_cost" in cleared and estimated_cost is not None:
            raise InvalidValueError("estimated_cost", "is both given and cleared")
        if territory is not None:
            check_territory_in_directorate(territory, self.directorate)
        changes: dict[str, Any] = {
            "name": None if name is None else text(name, "name", max_length=200),
            "territory": territory,
            "theme": None if theme is None else check_theme(theme),
            "programme": None if programme is None else check_programme(programme),
            "estimated_cost": (
                None if estimated_cost is None else money(estimated_cost, "estimated_cost")
            ),
        }
        if all(value is None for value in changes.values()) and not cleared:
            raise InvalidValueError("corrections", "name at least one detail to correct")
        self._correct_details(cleared=sorted(cleared), reason=text(reason, "reason"), **changes)

    def link_to_convention(self, *, convention_id: UUID) -> None:
        """Place the project under a partnership convention."""
        if convention_id in self.conventions:
            raise BusinessRuleError(f"project is already linked to convention {convention_id}")
        self._link_to_convention(convention_id=convention_id)

    def complete(self, *, on: date, reason: str | None = None) -> None:
        """Close the project as completed."""
        self._require_open()
        self._not_before_identification(effective_date(on, "on"))
        self._complete(on=on, reason=_optional_text(reason))

    def abandon(self, *, on: date, reason: str | None = None) -> None:
        """Close the project as abandoned."""
        self._require_open()
        self._not_before_identification(effective_date(on, "on"))
        self._abandon(on=on, reason=_optional_text(reason))

    # Queries -------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the project still takes commitments."""
        return self.status is ProjectStatus.ACTIVE

    # Rules ---------------------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self.is_open:
            raise ProjectClosedError(f"project is {self.status.value} since {self.closed_on}")

    def _not_before_identification(self, on: date) -> None:
        if on < self.identified_on:
            raise BusinessRuleError(
                f"{on} precedes the project's identification on {self.identified_on}"
            )

    # Events: state changes only; they run again on every replay ---------------------------

    @event(ProjectDetailsCorrected)
    def _correct_details(
        self,
        name: str | None,
        territory: str | None,
        theme: str | None,
        programme: str | None,
        estimated_cost: Decimal | None,
        cleared: list[str],
        reason: str,  # noqa: ARG002 - kept in the event, not in the state
    ) -> None:
        if name is not None:
            self.name = name
        if territory is not None:
            self.territory = territory
        if theme is not None:
            self.theme = theme
        if programme is not None:
            self.programme = programme
        if estimated_cost is not None:
            self.estimated_cost = estimated_cost
        if "programme" in cleared:
            self.programme = None
        if "estimated_cost" in cleared:
            self.estimated_cost = None

    @event(LoanGranted)
    def _grant_loan(
        self,
        commitment_id: UUID,
        amount: Decimal,
        granted_on: date,
        duration_months: int,
        rate: Decimal | None,
        product: str | None,
    ) -> None:
        self.commitments[commitment_id] = Commitment(
            Instrument.LOAN,
            amount,
            granted_on,
            MappingProxyType(
                {"duration_months": duration_months, "rate": rate, "product": product}
            ),
        )

    @event(EquityInvested)
    def _invest_equity(
        self,
        commitment_id: UUID,
        amount: Decimal,
        invested_on: date,
        stake_percent: Decimal | None,
        vehicle: str | None,
    ) -> None:
        self.commitments[commitment_id] = Commitment(
            Instrument.EQUITY,
            amount,
            invested_on,
            MappingProxyType({"stake_percent": stake_percent, "vehicle": vehicle}),
        )

    @event(StudyLaunched)
    def _launch_study(
        self,
        commitment_id: UUID,
        amount: Decimal,
        launched_on: date,
        subject: str,
        provider: str | None,
    ) -> None:
        self.commitments[commitment_id] = Commitment(
            Instrument.STUDY,
            amount,
            launched_on,
            MappingProxyType({"subject": subject, "provider": provider}),
        )

    @event(StudyDelivered)
    def _deliver_study(self, commitment_id: UUID, delivered_on: date) -> None:
        self._change_commitment(commitment_id, delivered_on=delivered_on)

    @event(FundsDisbursed)
    def _disburse(self, commitment_id: UUID, amount: Decimal, disbursed_on: date) -> None:
        commitment = self.commitments[commitment_id]
        self._change_commitment(
            commitment_id,
            disbursed=commitment.disbursed + amount,
            disbursements=(*commitment.disbursements, Movement(amount, disbursed_on)),
        )

    @event(LoanRepaid)
    def _record_repayment(self, commitment_id: UUID, principal: Decimal, repaid_on: date) -> None:
        commitment = self.commitments[commitment_id]
        self._change_commitment(
            commitment_id,
            repaid=commitment.repaid + principal,
            repayments=(*commitment.repayments, Movement(principal, repaid_on)),
        )

    @event(CommitmentCancelled)
    def _cancel_commitment(
        self,
        commitment_id: UUID,
        amount: Decimal,
        cancelled_on: date,
        reason: str,  # noqa: ARG002
    ) -> None:
        commitment = self.commitments[commitment_id]
        self._change_commitment(
            commitment_id,
            cancelled=commitment.cancelled + amount,
            cancelled_on=(*commitment.cancelled_on, cancelled_on),
        )

    @event(CommitmentAmountCorrected)
    def _correct_commitment_amount(self, commitment_id: UUID, amount: Decimal, reason: str) -> None:  # noqa: ARG002
        self._change_commitment(commitment_id, amount=amount)

    @event(CommitmentVoided)
    def _void_commitment(
        self,
        commitment_id: UUID,
        reason: str,  # noqa: ARG002
        amount: Decimal,  # noqa: ARG002
        cancelled: Decimal,  # noqa: ARG002
        disbursed: Decimal,  # noqa: ARG002
        repaid: Decimal,  # noqa: ARG002
    ) -> None:
        self.voided[commitment_id] = self.commitments.pop(commitment_id)

    @event(DisbursementReversed)
    def _reverse_disbursement(
        self,
        commitment_id: UUID,
        number: int,
        amount: Decimal,
        disbursed_on: date,  # noqa: ARG002
        reason: str,  # noqa: ARG002
    ) -> None:
        commitment = self.commitments[commitment_id]
        moves = list(commitment.disbursements)
        moves[number - 1] = replace(moves[number - 1], reversed=True)
        self._change_commitment(
            commitment_id, disbursed=commitment.disbursed - amount, disbursements=tuple(moves)
        )

    @event(RepaymentReversed)
    def _reverse_repayment(
        self,
        commitment_id: UUID,
        number: int,
        principal: Decimal,
        repaid_on: date,  # noqa: ARG002
        reason: str,  # noqa: ARG002
    ) -> None:
        commitment = self.commitments[commitment_id]
        moves = list(commitment.repayments)
        moves[number - 1] = replace(moves[number - 1], reversed=True)
        self._change_commitment(
            commitment_id, repaid=commitment.repaid - principal, repayments=tuple(moves)
        )

    @event(ProjectVoided)
    def _void(self, reason: str) -> None:  # noqa: ARG002
        self.status = ProjectStatus.VOIDED

    @event(CommitmentDateCorrected)
    def _correct_commitment_date(
        self,
        commitment_id: UUID,
        committed_on: date,
        was: date,  # noqa: ARG002
        reason: str,  # noqa: ARG002
    ) -> None:
        self._change_commitment(commitment_id, committed_on=committed_on)

    @event(ProjectLinkedToConvention)
    def _link_to_convention(self, convention_id: UUID) -> None:
        self.conventions.append(convention_id)

    @event(ImpactIndicatorSet)
    def _set_indicator(
        self,
        indicator: str,
        unit: str,
        baseline: Decimal | None,
        target: Decimal,
        due_on: date,
    ) -> None:
        previous = self.indicators.get(indicator)
        self.indicators[indicator] = Indicator(
            unit, target, due_on, baseline, previous.measurements if previous else []
        )

    @event(ImpactMeasured)
    def _measure(self, indicator: str, value: Decimal, measured_on: date) -> None:
        self.indicators[indicator].measurements.append((measured_on, value))

    @event(ProjectCompleted)
    def _complete(self, on: date, reason: str | None) -> None:  # noqa: ARG002
        self.status = ProjectStatus.COMPLETED
        self.closed_on = on

    @event(ProjectAbandoned)
    def _abandon(self, on: date, reason: str | None) -> None:  # noqa: ARG002
        self.status = ProjectStatus.ABANDONED
        self.closed_on = on


def _optional_text(value: str | None) -> str | None:
    return None if value is None else text(value, "reason")


# The facts that create a commitment (and claim its id); those a write might repeat by
# mistake, and for how long they are remembered.
NEW_COMMITMENTS = (Project.LoanGranted, Project.EquityInvested, Project.StudyLaunched)
MONEY_FACTS = (
    *NEW_COMMITMENTS,
    Project.FundsDisbursed,
    Project.LoanRepaid,
    Project.CommitmentCancelled,
)
RECENT = timedelta(hours=24)
