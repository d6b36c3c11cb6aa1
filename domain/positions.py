"""What the Ledger needs of its recorder beyond the library's: where each event stands."""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from uuid import UUID


@runtime_checkable
class EventPositions(Protocol):
    """A recorder that tells the log position of each of an aggregate's events.

    The library reads events by aggregate without their positions, and the log by position
    without grouping; answers and audits need both (see `eventstore` for each store's).
    """

    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Return {aggregate version: global log position} for one aggregate's events."""
        ...


def require_positions(recorder: object) -> EventPositions:
    """Return the recorder as `EventPositions`; TypeError if it cannot tell positions."""
    if not isinstance(recorder, EventPositions):
        raise TypeError(
            f"the event store's recorder {type(recorder).__name__} has no event_positions(): "
            "configure the store with eventstore.settings.library_env()"
        )
    return recorder
