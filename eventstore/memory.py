"""The in-process store: the library's, with event positions and group commit."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, ApplicationRecorder, EventStore, Mapper
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from eventstore.group_commit import grouped


class LedgerPOPORecorder(POPOApplicationRecorder):
    """The library's in-memory application recorder, telling where events stand."""

    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Return {aggregate version: global log position} for one aggregate's events."""
        index = self._stored_events_index.get(str(originator_id), {})
        return {version: i + 1 for version, i in index.items()}


class LedgerPOPOFactory(POPOFactory):
    """The library's in-memory factory: the ledger's recorder, saves by group commit."""

    def application_recorder(self) -> ApplicationRecorder:
        return LedgerPOPORecorder()

    def event_store(
        self, mapper: Mapper[Any] | None = None, recorder: AggregateRecorder | None = None
    ) -> EventStore[Any]:
        return super().event_store(mapper=mapper, recorder=grouped(recorder))
