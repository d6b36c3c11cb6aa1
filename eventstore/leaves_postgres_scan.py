"""A snapshot of the PostgreSQL store's log, its leaves and subtrees, streamed for verify_log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed

from eventstore.leaves import Node, ScannedEvent, ScannedLeaf


class PostgresScan:
    """One REPEATABLE READ snapshot of the events, leaves and subtrees, streamed in pages."""

    def __init__(
        self, conn: Any, events: Composed, leaves: Composed, nodes: Composed, page: int
    ) -> None:
        self.conn = conn
        self.page = page
        self.tables = events, leaves, nodes
        curs = conn.execute(
            SQL("SELECT COALESCE(MAX(notification_id), 0) AS head FROM {0}").format(events)
        )
        self.head_position = int(curs.fetchone()["head"])

    def _stream(self, name: str, statement: Any) -> Iterator[tuple[Any, ...]]:
        with self.conn.cursor(name=name, row_factory=tuple_row) as curs:
            curs.itersize = self.page
            curs.execute(statement)
            while rows := curs.fetchmany(self.page):
                yield from rows

    def events(self) -> Iterator[ScannedEvent]:
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {0} ORDER BY notification_id"
        ).format(self.tables[0])
        for p, i, v, t, s in self._stream("funding_scan_events", statement):
            yield ScannedEvent(p, i, v, t, s)

    def leaves(self) -> Iterator[ScannedLeaf]:
        statement = SQL(
            "SELECT leaf_index, position, hash, previous FROM {0} ORDER BY leaf_index"
        ).format(self.tables[1])
        for i, p, h, prev in self._stream("funding_scan_leaves", statement):
            yield ScannedLeaf(i, p, h, prev)

    def nodes(self) -> Iterator[Node]:
        statement = SQL(
            "SELECT level, idx, hash FROM {0} ORDER BY (idx + 1) << level, level"
        ).format(self.tables[2])
        for level, index, h in self._stream("funding_scan_nodes", statement):
            yield Node(level, index, h)
