"""Index aggregates: a deterministic id per unique key, so the store itself refuses duplicates."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class ProjectReference(Aggregate):
    """Claims a directorate's project reference for one project: saved with the project."""

    class Event(Aggregate.Event):
        """Base of the index events."""

        meta: dict[str, str] = field(default_factory=dict, kw_only=True)

    class ReferenceClaimed(Event, Aggregate.Created):
        project_id: UUID

    @staticmethod
    def key(directorate: str, reference: str) -> UUID:
        """Return the index id of a directorate's reference."""
        return uuid5(NAMESPACE_URL, f"funding-tracker:project-reference:{directorate}:{reference}")

    @event(ReferenceClaimed)
    def __init__(self, project_id: UUID) -> None:
        self.project_id = project_id

    @classmethod
    def claim(cls, directorate: str, reference: str, project_id: UUID) -> ProjectReference:
        """Claim a reference for a project."""
        return cls._create(
            cls.ReferenceClaimed, id=cls.key(directorate, reference), project_id=project_id
        )


class CommitmentClaim(Aggregate):
    """Claims a commitment id for one project, ledger-wide: saved with the commitment.

    Projects refuse a commitment id they already hold; this index makes the store refuse
    one that another project holds, so a commitment id names one commitment only.
    """

    class Event(Aggregate.Event):
        """Base of the index events."""

        meta: dict[str, str] = field(default_factory=dict, kw_only=True)

    class CommitmentIdClaimed(Event, Aggregate.Created):
        project_id: UUID

    @staticmethod
    def key(commitment_id: UUID) -> UUID:
        """Return the index id of a commitment id."""
        return uuid5(NAMESPACE_URL, f"funding-tracker:commitment:{commitment_id}")

    @event(CommitmentIdClaimed)
    def __init__(self, project_id: UUID) -> None:
        self.project_id = project_id

    @classmethod
    def claim(cls, commitment_id: UUID, project_id: UUID) -> CommitmentClaim:
        """Claim a commitment id for a project."""
        return cls._create(
            cls.CommitmentIdClaimed, id=cls.key(commitment_id), project_id=project_id
        )


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A caller's key for one request, and the request's fingerprint (a hash of what was sent)."""

    scope: str
    key: str
    fingerprint: str

    @property
    def record_id(self) -> UUID:
        """Return the id of the record this claim makes: one per scope and key."""
        return IdempotencyRecord.key(self.scope, self.key)


class IdempotencyRecord(Aggregate):
    """Remembers what a keyed request recorded: saved with the request's own events.

    A second request with the same key finds it and is answered with the same outcome;
    a concurrent one collides with it in the store and then finds it.
    """

    class Event(Aggregate.Event):
        """Base of the idempotency events."""

        meta: dict[str, str] = field(default_factory=dict, kw_only=True)

    class RequestRecorded(Event, Aggregate.Created):
        scope: str
        key: str
        fingerprint: str
        aggregate_id: UUID | None
        aggregate_version: int | None
        commitment_id: UUID | None
        unchanged: list[int]
        # What the first answer said beside the outcome (how an imported file was read), to
        # say it again; None in records written before it was kept.
        notes: dict[str, str] | None = None

    @staticmethod
    def key(scope: str, key: str) -> UUID:
        """Return the record id of a caller's key."""
        return uuid5(NAMESPACE_URL, f"funding-tracker:idempotency:{scope}:{key}")

    @event(RequestRecorded)
    def __init__(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        aggregate_id: UUID | None,
        aggregate_version: int | None,
        commitment_id: UUID | None,
        unchanged: list[int],
        notes: dict[str, str] | None = None,
    ) -> None:
        self.scope = scope
        self.idempotency_key = key
        self.fingerprint = fingerprint
        self.aggregate_id = aggregate_id
        self.aggregate_version = aggregate_version
        self.commitment_id = commitment_id
        self.unchanged = unchanged
        self.notes = notes

    @classmethod
    def record(
        cls,
        claim: IdempotencyClaim,
        *,
        aggregate_id: UUID | None = None,
        version: int | None = None,
        commitment_id: UUID | None = None,
        unchanged: list[int] | None = None,
        notes: dict[str, str] | None = None,
    ) -> IdempotencyRecord:
        """Record the outcome of a keyed request: the aggregate written and its new version."""
        return cls._create(
            cls.RequestRecorded,
            id=claim.record_id,
            scope=claim.scope,
            key=claim.key,
            fingerprint=claim.fingerprint,
            aggregate_id=aggregate_id,
            aggregate_version=version,
            commitment_id=commitment_id,
            unchanged=unchanged or [],
            notes=notes,
        )
