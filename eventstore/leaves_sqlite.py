"""The log's Merkle leaves and subtrees in the embedded SQLite store.

Written by `LedgerSQLiteRecorder._insert_events`, in the transaction that records the
events (SQLite's write lock is held from the events' INSERT to the COMMIT). A store written
before the tree existed gets its tables, and every event it holds hashed, once: when the
tables are first created, in one write transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from eventstore.leaves import (
    BLOCK,
    Growth,
    Leaf,
    Node,
    ScannedEvent,
    ScannedLeaf,
    leaves_of,
    stored_frontier,
    tail_start,
)
from eventstore.merkle import Subtree
from eventstore.settings import leaves_table, nodes_table

log = logging.getLogger(__name__)
MIGRATION_PAGE = 10_000


class SQLiteTree:
    """The leaves and subtrees tables beside one SQLite events table."""

    def __init__(self, datastore: Any, events_table: str) -> None:
        self.datastore = datastore
        self.events = events_table
        self.leaves = leaves_table(events_table)
        self.nodes = nodes_table(events_table)

    # Schema and the one-time hashing of an older store --------------------------------------

    def create(self) -> None:
        """Create the tables; when the store already holds events, hash them all, once."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (self.leaves,)
            )
            if c.fetchone() is not None:
                return
            try:  # the first write takes the write lock: nobody records events meanwhile
                c.execute(
                    f"CREATE TABLE {self.leaves} (leaf_index INTEGER PRIMARY KEY, "
                    "position INTEGER NOT NULL, hash BLOB NOT NULL, previous BLOB)"
                )
            except Exception as error:  # another process created it first
                if "already exists" in str(error):
                    return
                raise
            c.execute(f"CREATE INDEX {self.leaves}_position ON {self.leaves} (position)")
            c.execute(
                f"CREATE TABLE {self.nodes} (level INTEGER NOT NULL, idx INTEGER NOT NULL, "
                "hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID"
            )
            self._hash_existing(c)

    def _hash_existing(self, c: Any) -> None:
        c.execute(f"SELECT COUNT(*) FROM {self.events}")  # noqa: S608
        total = int(c.fetchone()[0])
        if not total:
            return
        log.warning("hashing the %d events of a store written before the log's tree", total)
        growth = Growth(0, {}, [])
        done, after = 0, 0
        previous: bytes | None = None
        while True:
            c.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
                f"FROM {self.events} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, MIGRATION_PAGE),
            )
            rows = c.fetchall()
            if not rows:
                break
            events = [_stored(row) for row in rows]
            leaves = leaves_of(done, [int(row[0]) for row in rows], events)
            for leaf in leaves:
                growth.append(leaf.hash)
            self._write(c, leaves, previous, growth.new_nodes)
            previous = leaves[-1].hash
            growth.new_nodes = []
            done += len(rows)
            after = int(rows[-1][0])
            log.warning("hashed %d of %d events", done, total)

    # Writes -----------------------------------------------------------------------------------

    def append(self, c: Any, positions: Sequence[int], events: Sequence[StoredEvent]) -> None:
        """Add the leaves of events just recorded in this transaction, and their nodes."""
        size = self._size(c)
        keys = stored_frontier(size)
        nodes = self._node_hashes(c, keys) if keys else {}
        c.execute(
            f"SELECT hash FROM {self.leaves} WHERE leaf_index >= ? ORDER BY leaf_index",  # noqa: S608
            (min(tail_start(size), size - 1),),
        )
        tail = [bytes(row[0]) for row in c.fetchall()]
        previous = tail[-1] if tail else None
        growth = Growth(size, nodes, tail[len(tail) - size % BLOCK :] if size % BLOCK else [])
        leaves = leaves_of(size, positions, events)
        growth.extend([leaf.hash for leaf in leaves])
        self._write(c, leaves, previous, growth.new_nodes)

    def _write(
        self, c: Any, leaves: Sequence[Leaf], previous: bytes | None, nodes: Sequence[Node]
    ) -> None:
        earlier = [previous, *(leaf.hash for leaf in leaves[:-1])]
        c.executemany(
            f"INSERT INTO {self.leaves} (leaf_index, position, hash, previous) "  # noqa: S608
            "VALUES (?, ?, ?, ?)",
            [
                (leaf.leaf_index, leaf.position, leaf.hash, p)
                for leaf, p in zip(leaves, earlier, strict=True)
            ],
        )
        if nodes:
            c.executemany(
                f"INSERT INTO {self.nodes} (level, idx, hash) VALUES (?, ?, ?)",  # noqa: S608
                [(n.level, n.index, n.hash) for n in nodes],
            )

    # Reads (eventstore.leaves.TreeStore) ----------------------------------------------------

    def _size(self, c: Any) -> int:
        c.execute(f"SELECT MAX(leaf_index) FROM {self.leaves}")  # noqa: S608
        row = c.fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def _node_hashes(self, c: Any, keys: Collection[Subtree]) -> dict[Subtree, bytes]:
        keys = list(keys)
        values = ",".join("(?, ?)" for _ in keys)
        c.execute(
            f"SELECT level, idx, hash FROM {self.nodes} "  # noqa: S608
            f"WHERE (level, idx) IN (VALUES {values})",
            [part for key in keys for part in key],
        )
        return {(int(r[0]), int(r[1])): bytes(r[2]) for r in c.fetchall()}

    def tree_size(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            return self._size(c)

    def frontier(self) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            size = self._size(c)
            keys = stored_frontier(size)
            nodes = self._node_hashes(c, keys) if keys else {}
            return size, nodes, self._leaf_hashes(c, range(tail_start(size), size))

    def hashes(
        self, keys: Collection[Subtree], indices: Collection[int]
    ) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            nodes = self._node_hashes(c, keys) if keys else {}
            return self._size(c), nodes, self._leaf_hashes(c, indices)

    def _leaf_hashes(self, c: Any, indices: Collection[int]) -> dict[int, bytes]:
        values = list(indices)
        if not values:
            return {}
        c.execute(
            f"SELECT leaf_index, hash FROM {self.leaves} "  # noqa: S608
            f"WHERE leaf_index IN ({','.join('?' * len(values))})",
            values,
        )
        return {int(r[0]): bytes(r[1]) for r in c.fetchall()}

    def leaves_at_positions(self, positions: Collection[int]) -> list[Leaf]:
        return self._leaves("position", positions)

    def _leaves(self, column: str, values: Collection[int]) -> list[Leaf]:
        values = list(values)
        if not values:
            return []
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT leaf_index, position, hash FROM {self.leaves} "  # noqa: S608
                f"WHERE {column} IN ({','.join('?' * len(values))}) ORDER BY leaf_index",
                values,
            )
            return [Leaf(int(r[0]), int(r[1]), bytes(r[2])) for r in c.fetchall()]

    def size_at(self, position: int) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT leaf_index FROM {self.leaves} WHERE position <= ? "  # noqa: S608
                "ORDER BY position DESC LIMIT 1",
                (position,),
            )
            row = c.fetchone()
            return 0 if row is None else int(row[0]) + 1

    @contextmanager
    def scan(self, page: int = 5000) -> Iterator[SQLiteScan]:
        """A snapshot of the whole log for `eventstore.verify.verify_log` (one read transaction)."""
        with self.datastore.transaction(commit=False) as c:
            yield SQLiteScan(self, c, page)


class SQLiteScan:
    """The events, leaves and subtrees of one read transaction, streamed."""

    def __init__(self, tree: SQLiteTree, c: Any, page: int) -> None:
        self.tree = tree
        self.connection = c.sqlite_cursor.connection
        self.page = page
        c.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {tree.events}")  # noqa: S608
        self.head_position = int(c.fetchone()[0])

    def _stream(self, statement: str) -> Iterator[Any]:
        c = self.connection.cursor()
        try:
            c.execute(statement)
            while rows := c.fetchmany(self.page):
                yield from rows
        finally:
            c.close()

    def events(self) -> Iterator[ScannedEvent]:
        for row in self._stream(
            "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
            f"FROM {self.tree.events} ORDER BY rowid"
        ):
            e = _stored(row)
            yield ScannedEvent(
                int(row[0]), UUID(str(e.originator_id)), e.originator_version, e.topic, e.state
            )

    def leaves(self) -> Iterator[ScannedLeaf]:
        for row in self._stream(
            f"SELECT leaf_index, position, hash, previous FROM {self.tree.leaves} "  # noqa: S608
            "ORDER BY leaf_index"
        ):
            previous = None if row[3] is None else bytes(row[3])
            yield ScannedLeaf(int(row[0]), int(row[1]), bytes(row[2]), previous)

    def nodes(self) -> Iterator[Node]:
        for row in self._stream(
            f"SELECT level, idx, hash FROM {self.tree.nodes} "  # noqa: S608
            "ORDER BY (idx + 1) << level, level"
        ):
            yield Node(int(row[0]), int(row[1]), bytes(row[2]))


def _stored(row: Any) -> StoredEvent:
    state = row[4]
    return StoredEvent(
        originator_id=UUID(str(row[1])),
        originator_version=int(row[2]),
        topic=str(row[3]),
        state=state.encode() if isinstance(state, str) else bytes(state),
    )
