"""The embedded SQLite store: the library's, with positions, the log's tree and group commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, EventStore, Mapper, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory

from eventstore.group_commit import grouped
from eventstore.leaves_sqlite import SQLiteTree


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder, telling where events stand.

    Each event's Merkle leaf, and the subtrees it completes, are written in the transaction
    that records it (`eventstore.leaves_sqlite`).
    """

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self.tree = SQLiteTree(datastore, events_table_name)

    def create_table(self) -> None:
        super().create_table()
        self.tree.create()

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids is not None and stored_events:
            self.tree.append(c, [int(i) for i in ids], stored_events)
        return ids

    def tree_store(self) -> SQLiteTree:
        """The reads of the log's tree (`eventstore.tree.log_tree`)."""
        return self.tree

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
