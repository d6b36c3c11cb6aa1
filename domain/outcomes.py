"""What the Ledger answers: a write's outcome, a batch's, an event as an auditor reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import BusinessRuleError, DomainError


class ConcurrentWriteError(BusinessRuleError):
    """Too many concurrent writes to one aggregate: the command may be sent again."""


class IdempotencyConflictError(BusinessRuleError):
    """An idempotency key was already used for a different request."""


@dataclass(frozen=True, slots=True)
class Written:
    """What a write recorded: the aggregate, its new version and the write's log position.

    `replayed` is true when an idempotency key found the write already recorded: nothing
    new was stored and the fields are those of the first write.
    """

    id: UUID
    version: int
    position: int
    commitment_id: UUID | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a batch of project commands did: all saved in one transaction, or none.

    `refused` maps an item's index to its refusal; `unchanged` holds the items whose change
    was already recorded; `position` is the log position of the batch (None when nothing
    was saved: a refusal or a dry run).
    """

    refused: dict[int, DomainError]
    unchanged: frozenset[int]
    position: int | None
    replayed: bool = False
    # On a replay, the notes kept with the idempotency record (None if none were kept).
    notes: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One stored event of an aggregate, as an auditor reads it."""

    version: int
    position: int
    recorded_at: datetime
    type: str
    data: dict[str, Any]
    meta: dict[str, str]


def event_data(e: object) -> dict[str, Any]:
    """Return an event's own fields (without the envelope: id, version, time, meta)."""
    envelope = {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}
    return {k: v for k, v in vars(e).items() if k not in envelope}


def recorded_at(e: object) -> datetime:
    # Aggregate events carry the time they were created, moments before they are stored.
    recorded: datetime = getattr(e, "timestamp")  # noqa: B009
    return recorded
