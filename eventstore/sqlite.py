"""The embedded SQLite store: the library's, with event positions and group commit."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, EventStore, Mapper
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory

from eventstore.group_commit import grouped


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder, telling where events stand."""

    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Return {aggregate version: global log position} for one aggregate's events."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT originator_version, rowid FROM {self.events_table_name} "  # noqa: S608
                "WHERE originator_id = ?",
                (originator_id.hex,),
            )
            return {int(row[0]): int(row[1]) for row in c.fetchall()}


class LedgerSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory: the ledger's recorder, saves by group commit."""

    application_recorder_class = LedgerSQLiteRecorder

    def event_store(
        self, mapper: Mapper[Any] | None = None, recorder: AggregateRecorder | None = None
    ) -> EventStore[Any]:
        return super().event_store(mapper=mapper, recorder=grouped(recorder))
