"""The Ledger application: the service layer that loads aggregates, runs commands and saves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording

from domain.convention import Convention
from domain.errors import (
    BusinessRuleError,
    DuplicateReferenceError,
    InvalidValueError,
    NotFoundError,
    OutOfScopeError,
    VersionMismatchError,
)
from domain.indexes import ProjectReference
from domain.project import Project
from domain.store import DateAsISO, event_positions
from domain.values import Actor, new_id

A = TypeVar("A", bound=Aggregate)

# Concurrent writers to one project each retry this many times before giving up.
MAX_ATTEMPTS = 20


class ConcurrentWriteError(BusinessRuleError):
    """Too many concurrent writes to one aggregate: the command may be sent again."""


@dataclass(frozen=True, slots=True)
class Written:
    """What a write recorded: the aggregate, its new version and the event's log position."""

    id: UUID
    version: int
    position: int
    commitment_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One stored event of an aggregate, as an auditor reads it."""

    version: int
    position: int
    recorded_at: datetime
    type: str
    data: dict[str, Any]
    meta: dict[str, str]


class Ledger(Application[UUID]):
    """The funding ledger: every command on projects and conventions, and their history."""

    name = "Ledger"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # Projects --------------------------------------------------------------------------------

    def identify_project(
        self,
        actor: Actor,
        *,
        name: str,
        territory: str,
        theme: str,
        directorate: str,
        identified_on: date,
        programme: str | None = None,
        estimated_cost: Decimal | str | None = None,
        reference: str | None = None,
        project_id: UUID | None = None,
    ) -> Written:
        """Identify a project; a reference, when given, is unique within its directorate."""
        _require_scope(actor, directorate)
        project = Project.identify(
            project_id=project_id or new_id(),
            name=name,
            territory=territory,
            theme=theme,
            directorate=directorate,
            identified_on=identified_on,
            programme=programme,
            estimated_cost=estimated_cost,
            reference=reference,
        )
        aggregates: list[Aggregate] = [project]
        if project.reference is not None:
            if self.project_id_for_reference(directorate, project.reference) is not None:
                raise _duplicate_reference(directorate, project.reference)
            aggregates.append(ProjectReference.claim(directorate, project.reference, project.id))
        try:
            recordings = self._save(actor, *aggregates)
        except IntegrityError:
            if project.reference is not None:
                raise _duplicate_reference(directorate, project.reference) from None
            raise
        return Written(project.id, project.version, recordings[-1].notification.id)

    def correct_project(
        self,
        actor: Actor,
        project_id: UUID,
        *,
        reason: str,
        expected_version: int | None = None,
        name: str | None = None,
        territory: str | None = None,
        theme: str | None = None,
        programme: str | None = None,
        estimated_cost: Decimal | str | None = None,
        cleared: tuple[str, ...] = (),
    ) -> Written:
        """Correct a project's details (ProjectDetailsCorrected)."""
        return self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.correct_details(
                reason=reason,
                name=name,
                territory=territory,
                theme=theme,
                programme=programme,
                estimated_cost=estimated_cost,
                cleared=cleared,
            ),
        )

    def grant_loan(
        self,
        actor: Actor,
        project_id: UUID,
        *,
        amount: Decimal | str | int,
        granted_on: date,
        duration_months: int,
        rate: Decimal | str | None = None,
        product: str | None = None,
        commitment_id: UUID | None = None,
        expected_version: int | None = None,
    ) -> Written:
        """Grant a loan to a project (LoanGranted)."""
        cid = commitment_id or new_id()
        written = self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.grant_loan(
                commitment_id=cid,
                amount=amount,
                granted_on=granted_on,
                duration_months=duration_months,
                rate=rate,
                product=product,
            ),
        )
        return replace(written, commitment_id=cid)

    def invest_equity(
        self,
        actor: Actor,
        project_id: UUID,
        *,
        amount: Decimal | str | int,
        invested_on: date,
        stake_percent: Decimal | str | None = None,
        vehicle: str | None = None,
        commitment_id: UUID | None = None,
        expected_version: int | None = None,
    ) -> Written:
        """Take an equity stake in a project (EquityInvested)."""
        cid = commitment_id or new_id()
        written = self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.invest_equity(
                commitment_id=cid,
                amount=amount,
                invested_on=invested_on,
                stake_percent=stake_percent,
                vehicle=vehicle,
            ),
        )
        return replace(written, commitment_id=cid)

    def launch_study(
        self,
        actor: Actor,
        project_id: UUID,
        *,
        amount: Decimal | str | int,
        launched_on: date,
        subject: str,
        provider: str | None = None,
        commitment_id: UUID | None = None,
        expected_version: int | None = None,
    ) -> Written:
        """Launch an engineering study for a project (StudyLaunched)."""
        cid = commitment_id or new_id()
        written = self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.launch_study(
                commitment_id=cid,
                amount=amount,
                launched_on=launched_on,
                subject=subject,
                provider=provider,
            ),
        )
        return replace(written, commitment_id=cid)

    def deliver_study(
        self,
        actor: Actor,
        project_id: UUID,
        commitment_id: UUID,
        *,
        delivered_on: date,
        expected_version: int | None = None,
    ) -> Written:
        """Record a study's delivery (StudyDelivered)."""
        written = self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.deliver_study(commitment_id=commitment_id, delivered_on=delivered_on),
        )
        return replace(written, commitment_id=commitment_id)

    def disburse(
        self,
        actor: Actor,
        project_id: UUID,
        commitment_id: UUID,
        *,
        amount: Decimal | str | int,
        disbursed_on: date,
        expected_version: int | None = None,
    ) -> Written:
        """Disburse money under a commitment (FundsDisbursed)."""
        written = self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.disburse(
                commitment_id=commitment_id, amount=amount, disbursed_on=disbursed_on
            ),
        )
        return replace(written, commitment_id=commitment_id)

    def record_repayment(
        self,
        actor: Actor,
        project_id: UUID,
        commitment_id: UUID,
        *,
        principal: Decimal | str | int,
        repaid_on: date,
        expected_version: int | None = None,
    ) -> Written:
        """Record principal repaid on a loan (LoanRepaid)."""
        written = self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.record_repayment(
                commitment_id=commitment_id, principal=principal, repaid_on=repaid_on
            ),
        )
        return replace(written, commitment_id=commitment_id)

    def cancel_commitment(
        self,
        actor: Actor,
        project_id: UUID,
        commitment_id: UUID,
        *,
        amount: Decimal | str | int,
        cancelled_on: date,
        reason: str,
        expected_version: int | None = None,
    ) -> Written:
        """Cancel undisbursed money on a commitment (CommitmentCancelled)."""
        written = self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.cancel_commitment(
                commitment_id=commitment_id,
                amount=amount,
                cancelled_on=cancelled_on,
                reason=reason,
            ),
        )
        return replace(written, commitment_id=commitment_id)

    def correct_commitment_amount(
        self,
        actor: Actor,
        project_id: UUID,
        commitment_id: UUID,
        *,
        amount: Decimal | str | int,
        reason: str,
        expected_version: int | None = None,
    ) -> Written:
        """Correct a commitment's recorded amount (CommitmentAmountCorrected)."""
        written = self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.correct_commitment_amount(
                commitment_id=commitment_id, amount=amount, reason=reason
            ),
        )
        return replace(written, commitment_id=commitment_id)

    def set_indicator(
        self,
        actor: Actor,
        project_id: UUID,
        *,
        indicator: str,
        unit: str,
        target: Decimal | str | int,
        due_on: date,
        baseline: Decimal | str | int | None = None,
        expected_version: int | None = None,
    ) -> Written:
        """Set an impact indicator on a project (ImpactIndicatorSet)."""
        return self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.set_indicator(
                indicator=indicator, unit=unit, target=target, due_on=due_on, baseline=baseline
            ),
        )

    def measure(
        self,
        actor: Actor,
        project_id: UUID,
        *,
        indicator: str,
        value: Decimal | str | int,
        measured_on: date,
        expected_version: int | None = None,
    ) -> Written:
        """Record a measure of an impact indicator (ImpactMeasured)."""
        return self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.measure(indicator=indicator, value=value, measured_on=measured_on),
        )

    def complete_project(
        self,
        actor: Actor,
        project_id: UUID,
        *,
        on: date,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> Written:
        """Close a project as completed (ProjectCompleted)."""
        return self._change_project(
            actor, project_id, expected_version, lambda p: p.complete(on=on, reason=reason)
        )

    def abandon_project(
        self,
        actor: Actor,
        project_id: UUID,
        *,
        on: date,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> Written:
        """Close a project as abandoned (ProjectAbandoned)."""
        return self._change_project(
            actor, project_id, expected_version, lambda p: p.abandon(on=on, reason=reason)
        )

    # Conventions -----------------------------------------------------------------------------

    def sign_convention(
        self,
        actor: Actor,
        *,
        title: str,
        directorate: str,
        signatories: list[str],
        themes: list[str],
        signed_on: date,
        ends_on: date | None = None,
        envelope: Decimal | str | None = None,
        convention_id: UUID | None = None,
    ) -> Written:
        """Sign a partnership convention (ConventionSigned)."""
        _require_scope(actor, directorate)
        convention = Convention.sign(
            convention_id=convention_id or new_id(),
            title=title,
            directorate=directorate,
            signatories=signatories,
            themes=themes,
            signed_on=signed_on,
            ends_on=ends_on,
            envelope=envelope,
        )
        recordings = self._save(actor, convention)
        return Written(convention.id, convention.version, recordings[-1].notification.id)

    def link_project_to_convention(
        self,
        actor: Actor,
        convention_id: UUID,
        project_id: UUID,
        *,
        expected_version: int | None = None,
    ) -> Written:
        """Place a project under a convention (ProjectLinkedToConvention)."""
        convention = self.convention(convention_id)
        convention.require_in_force()
        return self._change_project(
            actor,
            project_id,
            expected_version,
            lambda p: p.link_to_convention(convention_id=convention_id),
        )

    # Reads -----------------------------------------------------------------------------------

    def project(self, project_id: UUID, version: int | None = None) -> Project:
        """Return a project now, or at a version."""
        return self._get(Project, project_id, version)

    def project_as_at(self, project_id: UUID, at: datetime) -> Project:
        """Return a project as it was recorded at a time."""
        if at.tzinfo is None:
            raise InvalidValueError("as_at", "needs a time zone, e.g. 2024-12-31T23:59:59+00:00")
        version = None
        for stored in self.events.get(project_id):
            if _recorded_at(stored) > at:
                break
            version = stored.originator_version
        if version is None:
            raise NotFoundError(f"project {project_id} was not recorded at {at.isoformat()}")
        return self._get(Project, project_id, version)

    def convention(self, convention_id: UUID) -> Convention:
        """Return a convention."""
        return self._get(Convention, convention_id, None)

    def project_events(self, project_id: UUID) -> list[RecordedEvent]:
        """Return a project's events in order, with their log positions and recording times."""
        self.project(project_id)
        positions = event_positions(self.recorder, project_id)
        return [
            RecordedEvent(
                version=e.originator_version,
                position=positions[e.originator_version],
                recorded_at=_recorded_at(e),
                type=type(e).__name__,
                data=event_data(e),
                meta=dict(getattr(e, "meta", {})),
            )
            for e in self.events.get(project_id)
        ]

    def project_id_for_reference(self, directorate: str, reference: str) -> UUID | None:
        """Return the project holding a directorate's reference, if any."""
        try:
            index: ProjectReference = self.repository.get(
                ProjectReference.key(directorate, reference)
            )
        except AggregateNotFoundError:
            return None
        project_id: UUID = index.project_id
        return project_id

    def head_position(self) -> int:
        """Return the position of the last event in the global log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def iter_aggregate_ids(self) -> Iterator[UUID]:
        """Yield the id of every aggregate created, in log order."""
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=1000)
            if not page:
                return
            for notification in page:
                if notification.originator_version == 1:
                    yield UUID(str(notification.originator_id))
            start = page[-1].id + 1

    # Mechanics -------------------------------------------------------------------------------

    def _get(self, kind: type[A], aggregate_id: UUID, version: int | None) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError(f"no {kind.__name__.lower()} {aggregate_id}") from None
        if not isinstance(aggregate, kind):
            raise NotFoundError(f"no {kind.__name__.lower()} {aggregate_id}")
        if version is not None and aggregate.version != version:
            raise NotFoundError(f"{kind.__name__.lower()} {aggregate_id} has no version {version}")
        return aggregate

    def _change_project(
        self,
        actor: Actor,
        project_id: UUID,
        expected_version: int | None,
        command: Callable[[Project], None],
    ) -> Written:
        # A concurrent writer makes our save conflict: load again and re-check every rule.
        for _ in range(MAX_ATTEMPTS):
            project = self.project(project_id)
            _require_scope(actor, project.directorate)
            if expected_version is not None and project.version != expected_version:
                raise VersionMismatchError(expected_version, project.version)
            command(project)
            try:
                recordings = self._save(actor, project)
            except IntegrityError:
                if expected_version is not None:
                    raise VersionMismatchError(expected_version, expected_version + 1) from None
                continue
            return Written(project.id, project.version, recordings[-1].notification.id)
        raise ConcurrentWriteError(f"project {project_id} is being changed by too many writers")

    def _save(self, actor: Actor, *aggregates: Aggregate) -> list[Recording[UUID]]:
        meta = actor.meta()
        events: list[CanMutateAggregate[UUID]] = [
            replace(e, meta=meta)  # type: ignore[type-var]
            for aggregate in aggregates
            for e in aggregate.collect_events()
        ]
        return self.save(*events)


def event_data(e: object) -> dict[str, Any]:
    """Return an event's own fields (without the envelope: id, version, time, meta)."""
    envelope = {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}
    return {k: v for k, v in vars(e).items() if k not in envelope}


def _recorded_at(e: object) -> datetime:
    # Aggregate events carry the time they were created, moments before they are stored.
    recorded: datetime = getattr(e, "timestamp")  # noqa: B009
    return recorded


def _require_scope(actor: Actor, directorate: str) -> None:
    if actor.directorate is not None and actor.directorate != directorate:
        raise OutOfScopeError(
            f"{actor.name} writes for directorate {actor.directorate!r}, not {directorate!r}"
        )


def _duplicate_reference(directorate: str, reference: str) -> DuplicateReferenceError:
    return DuplicateReferenceError(
        f"reference {reference!r} is already used in directorate {directorate!r}"
    )
