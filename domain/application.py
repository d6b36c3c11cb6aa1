"""The Ledger application: the service layer that loads aggregates, runs commands and saves."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Recording,
)

from domain.commands import (
    Command,
    CreatingCommand,
    IdentifyProject,
    ProjectCommand,
    SignConvention,
)
from domain.convention import Convention
from domain.duplicate_checks import DuplicateChecks
from domain.errors import (
    DomainError,
    DuplicateCommitmentError,
    DuplicateReferenceError,
    InvalidValueError,
    NotFoundError,
    OutOfScopeError,
    VersionMismatchError,
)
from domain.indexes import (
    CommitmentClaim,
    IdempotencyClaim,
    IdempotencyRecord,
    ProjectReference,
)
from domain.outcomes import (
    BatchOutcome,
    ConcurrentWriteError,
    IdempotencyConflictError,
    RecordedEvent,
    Written,
    event_data,
    recorded_at,
)
from domain.positions import EventPositions, require_positions
from domain.project import NEW_COMMITMENTS, Project
from domain.transcodings import DateAsISO
from domain.values import Actor

A = TypeVar("A", bound=Aggregate)


# Concurrent writers to one project each retry this many times before giving up.
MAX_ATTEMPTS = 20


class Ledger(DuplicateChecks, Application[UUID]):
    """The funding ledger: every command on projects and conventions, and their history."""

    name = "Ledger"

    # The recorder, as it tells where each event stands in the log.
    positions: EventPositions

    def construct_recorder(self) -> ApplicationRecorder:
        # The store (its recorder, group commit) is chosen by the settings: see eventstore/.
        recorder = super().construct_recorder()
        self.positions = require_positions(recorder)
        return recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # Writes ----------------------------------------------------------------------------------

    def execute(
        self,
        actor: Actor,
        command: Command,
        *,
        expected_version: int | None = None,
        idempotency: IdempotencyClaim | None = None,
        confirm_duplicate: bool = False,
    ) -> Written:
        """Run one command and save what it recorded; the one way a single write comes in.

        `expected_version` makes a change to a project conditional on its version;
        `idempotency` answers a repeated request with the first write's outcome. Without
        it, a write that repeats a recent one is refused as a possible duplicate
        (`domain.duplicates`) unless `confirm_duplicate`.
        """
        check = idempotency is None and not confirm_duplicate
        if isinstance(command, ProjectCommand):
            return self._change_project(actor, command, expected_version, idempotency, check)
        if isinstance(command, IdentifyProject | SignConvention):
            return self._create(actor, command, idempotency)
        raise TypeError(f"{type(command).__name__} is not a command the ledger runs")

    def execute_batch(
        self,
        actor: Actor,
        commands: Sequence[ProjectCommand],
        *,
        dry_run: bool = False,
        idempotency: IdempotencyClaim | None = None,
        notes: dict[str, str] | None = None,
        confirm_duplicate: bool = False,
    ) -> BatchOutcome:
        """Run commands on projects, each project loaded once; save all in one transaction.

        Every command runs, in order, on the projects as the earlier commands left them, so
        every refusal is reported; a command whose change is already recorded is `unchanged`.
        Nothing is saved if any command is refused, or on a dry run. `notes` (what the answer
        says beside the outcome) are kept with the idempotency record and given back on a
        replay. Without `idempotency`, a command repeating a recent write or an earlier
        command of the batch is refused as a possible duplicate unless `confirm_duplicate`.
        """
        check = idempotency is None and not confirm_duplicate
        for _ in range(MAX_ATTEMPTS):
            if not dry_run and (replayed := self._replayed_batch(idempotency)) is not None:
                return replayed
            projects, refused, unchanged = self._run_batch(actor, commands, check)
            if refused and not dry_run:
                # A concurrent twin of a keyed batch may have been saved in the meantime.
                replayed = self._replayed_batch(idempotency)
                if replayed is not None:
                    return replayed
            if refused or dry_run:
                return BatchOutcome(refused, frozenset(unchanged), None)
            changed = [p for p in projects if p.pending_events]
            aggregates: list[Aggregate] = list(changed)
            if idempotency is not None:
                # It names the last project changed at its new version: the last fact recorded.
                last = changed[-1] if changed else None
                aggregates.append(
                    IdempotencyRecord.record(
                        idempotency,
                        aggregate_id=None if last is None else last.id,
                        version=None if last is None else last.version,
                        unchanged=sorted(unchanged),
                        notes=notes,
                    )
                )
            if not aggregates:
                return BatchOutcome({}, frozenset(unchanged), self.head_position())
            try:
                recordings = self._save(actor, *aggregates)
            except IntegrityError:
                continue
            # The position of the last fact recorded, not of the index records saved with it.
            ids = {p.id for p in changed}
            position = max(
                (r.notification.id for r in recordings if r.domain_event.originator_id in ids),
                default=recordings[-1].notification.id,
            )
            return BatchOutcome({}, frozenset(unchanged), position)
        raise ConcurrentWriteError("the projects are being changed by too many writers")

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
            if recorded_at(stored) > at:
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
        positions = self.positions.event_positions(project_id)
        return [
            RecordedEvent(
                version=e.originator_version,
                position=positions[e.originator_version],
                recorded_at=recorded_at(e),
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

    def _create(
        self, actor: Actor, command: CreatingCommand, idempotency: IdempotencyClaim | None
    ) -> Written:
        if (replayed := self._replayed(idempotency)) is not None:
            return replayed
        require_scope(actor, command.directorate)
        aggregate = command.create()
        claims: list[Aggregate] = []
        reference = aggregate.reference if isinstance(aggregate, Project) else None
        if reference is not None:
            if self.project_id_for_reference(aggregate.directorate, reference) is not None:
                if (replayed := self._replayed(idempotency)) is not None:
                    return replayed
                raise _duplicate_reference(aggregate.directorate, reference)
            claims.extend(c for c in [reference_claim(aggregate)] if c is not None)
        try:
            return self._write(actor, aggregate, *claims, idempotency=idempotency)
        except IntegrityError:
            # A concurrent twin of this request won the race: answer as it did.
            if (replayed := self._replayed(idempotency)) is not None:
                return replayed
            if reference is not None:
                raise _duplicate_reference(aggregate.directorate, reference) from None
            raise

    def _change_project(
        self,
        actor: Actor,
        command: ProjectCommand,
        expected_version: int | None,
        idempotency: IdempotencyClaim | None,
        check: bool,
    ) -> Written:
        # A concurrent writer makes our save conflict: load again and re-check every rule.
        # A concurrent twin of a keyed request makes it conflict too: then answer as it did.
        for _ in range(MAX_ATTEMPTS):
            if (replayed := self._replayed(idempotency)) is not None:
                return replayed
            try:
                command.check(self)
                project = self.project(command.project_id)
                require_scope(actor, project.directorate)
                if expected_version is not None and project.version != expected_version:
                    raise VersionMismatchError(expected_version, project.version)
                command.apply(project, self)
                if check:
                    self._refuse_twin(project, project.pending_events)
            except DomainError:
                # The twin may have changed the project just before we loaded it.
                if (replayed := self._replayed(idempotency)) is not None:
                    return replayed
                raise
            try:
                return self._write(
                    actor, project, commitment_id=command.commitment, idempotency=idempotency
                )
            except IntegrityError:
                if expected_version is None:
                    continue
                if (replayed := self._replayed(idempotency)) is not None:
                    return replayed
                raise VersionMismatchError(expected_version, expected_version + 1) from None
        raise ConcurrentWriteError(
            f"project {command.project_id} is being changed by too many writers"
        )

    def _run_batch(
        self, actor: Actor, commands: Sequence[ProjectCommand], check: bool
    ) -> tuple[list[Project], dict[int, DomainError], set[int]]:
        projects: dict[UUID, Project | DomainError] = {}
        refused: dict[int, DomainError] = {}
        unchanged: set[int] = set()
        for index, command in enumerate(commands):
            if command.project_id not in projects:
                projects[command.project_id] = self._load_for(actor, command.project_id)
            project = projects[command.project_id]
            if isinstance(project, DomainError):
                refused[index] = project
                continue
            try:
                command.check(self)
                if command.recorded_in(project):
                    unchanged.add(index)
                else:
                    before = len(project.pending_events)
                    command.apply(project, self)
                    if check:
                        self._refuse_twin(project, project.pending_events[before:])
            except DomainError as error:
                refused[index] = error
        return [p for p in projects.values() if isinstance(p, Project)], refused, unchanged

    def _load_for(self, actor: Actor, project_id: UUID) -> Project | DomainError:
        try:
            project = self.project(project_id)
            require_scope(actor, project.directorate)
        except DomainError as error:
            return error
        return project

    def _write(
        self,
        actor: Actor,
        aggregate: Aggregate,
        *others: Aggregate,
        commitment_id: UUID | None = None,
        idempotency: IdempotencyClaim | None = None,
    ) -> Written:
        # The idempotency record goes in the same transaction; a replay answers the position
        # of the aggregate's version it names.
        aggregates = [aggregate, *others]
        if idempotency is not None:
            aggregates.append(
                IdempotencyRecord.record(
                    idempotency,
                    aggregate_id=aggregate.id,
                    version=aggregate.version,
                    commitment_id=commitment_id,
                )
            )
        recordings = self._save(actor, *aggregates)
        # The position of the fact itself, not of the index records saved with it.
        position = max(
            r.notification.id for r in recordings if r.domain_event.originator_id == aggregate.id
        )
        return Written(aggregate.id, aggregate.version, position, commitment_id)

    def _idempotency_record(self, claim: IdempotencyClaim | None) -> IdempotencyRecord | None:
        if claim is None:
            return None
        try:
            record: Aggregate = self.repository.get(claim.record_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(record, IdempotencyRecord) or record.fingerprint != claim.fingerprint:
            raise IdempotencyConflictError(
                f"the idempotency key {claim.key!r} was already used for another request"
            )
        return record

    def _recorded_position(self, record: IdempotencyRecord) -> int:
        return self.positions.event_positions(record.id)[1]

    def _replayed(self, claim: IdempotencyClaim | None) -> Written | None:
        record = self._idempotency_record(claim)
        if record is None:
            return None
        if record.aggregate_id is None or record.aggregate_version is None:
            raise IdempotencyConflictError(
                f"the idempotency key {record.idempotency_key!r} was used for another request"
            )
        positions = self.positions.event_positions(record.aggregate_id)
        return Written(
            record.aggregate_id,
            record.aggregate_version,
            positions[record.aggregate_version],
            record.commitment_id,
            replayed=True,
        )

    def _replayed_batch(self, claim: IdempotencyClaim | None) -> BatchOutcome | None:
        record = self._idempotency_record(claim)
        if record is None:
            return None
        position = self._recorded_position(record)
        if record.aggregate_id is not None and record.aggregate_version is not None:
            position = self.positions.event_positions(record.aggregate_id)[record.aggregate_version]
        return BatchOutcome(
            {},
            frozenset(record.unchanged),
            position,
            replayed=True,
            notes=record.notes,
        )

    def _save(self, actor: Actor, *aggregates: Aggregate) -> list[Recording[UUID]]:
        events, claimed = events_to_record(actor, *aggregates)
        try:
            return self.save(*events)
        except IntegrityError:
            # A conflict: a concurrent writer's version, or a commitment id in use elsewhere.
            self._require_unclaimed(claimed)
            raise

    def _require_unclaimed(self, claimed: dict[UUID, UUID]) -> None:
        for commitment_id, project_id in claimed.items():
            try:
                holder: CommitmentClaim = self.repository.get(CommitmentClaim.key(commitment_id))
            except AggregateNotFoundError:
                continue
            if holder.project_id == project_id:
                continue  # a concurrent twin recording the same commitment: a plain conflict
            raise DuplicateCommitmentError(
                f"commitment id {commitment_id} is already used by project {holder.project_id}"
            )


def events_to_record(
    actor: Actor, *aggregates: Aggregate
) -> tuple[list[CanMutateAggregate[UUID]], dict[UUID, UUID]]:
    """The events a write of these aggregates records, in order, and the commitment ids claimed.

    Each event is stamped with the actor's metadata; each new commitment claims its id
    ledger-wide in the same write, its claim first (so a write's last event stays its last
    fact or its idempotency record). The bulk loads (`demo/bulk.py`) record these too.
    """
    meta = actor.meta()
    events: list[CanMutateAggregate[UUID]] = [
        replace(e, meta=meta)  # type: ignore[type-var]
        for aggregate in aggregates
        for e in aggregate.collect_events()
    ]
    claimed = {e.commitment_id: e.originator_id for e in events if isinstance(e, NEW_COMMITMENTS)}
    claims: list[CanMutateAggregate[UUID]] = [
        replace(e, meta=meta)  # type: ignore[type-var]
        for commitment_id, project_id in claimed.items()
        for e in CommitmentClaim.claim(commitment_id, project_id).collect_events()
    ]
    return [*claims, *events], claimed


def reference_claim(aggregate: Aggregate) -> ProjectReference | None:
    """The claim of a new project's reference within its directorate, if it has one."""
    if isinstance(aggregate, Project) and aggregate.reference is not None:
        return ProjectReference.claim(aggregate.directorate, aggregate.reference, aggregate.id)
    return None


def require_scope(actor: Actor, directorate: str) -> None:
    """Refuse an actor bound to another directorate."""
    if actor.directorate is not None and actor.directorate != directorate:
        raise OutOfScopeError(
            f"{actor.name} writes for directorate {actor.directorate!r}, not {directorate!r}"
        )


def _duplicate_reference(directorate: str, reference: str) -> DuplicateReferenceError:
    return DuplicateReferenceError(
        f"reference {reference!r} is already used in directorate {directorate!r}"
    )
