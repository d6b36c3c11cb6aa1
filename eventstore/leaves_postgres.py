"""The log's Merkle leaves and subtrees in the PostgreSQL store.

`LedgerPostgresRecorder` adds a write's leaves inside its transaction, before the COMMIT,
under the events table's lock: the leaves commit or vanish with their events, and writers
take turns, so leaf indices stay dense and positions grow with them. A write of up to 2,000
events sends its events, their leaves and the subtrees they complete in one statement,
hashed from the tip the writing process keeps (`eventstore.leaves_postgres_tip`). A larger
one (COPY) reads the frontier (the tree's size, the stored subtrees of its binary
decomposition, the leaves after them) with the log's head, copies its events after the head
while hashing them, and sends the leaves (one packed binary COPY), then its subtrees
(`add_hashed_leaves`). Only the position of each block's first leaf is indexed: a
position's leaf is in the block that the last of those at or before it starts
(`leaves_at_positions`, `size_at`). A store that had events before the tree existed gets
its tables, and every event hashed, once, under the same lock (`create`); one with the
older index on every position gets the block index instead. `scan`
(eventstore.leaves_postgres_scan) streams a snapshot for `verify_log`."""

from __future__ import annotations

import logging
import struct
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from eventstore.leaves import (
    BLOCK,
    STORED_FROM_LEVEL,
    Growth,
    Leaf,
    Node,
    leaves_of,
)
from eventstore.leaves_postgres_scan import PostgresScan
from eventstore.leaves_postgres_tip import TipWriter
from eventstore.merkle import Subtree
from eventstore.settings import leaves_table, nodes_table

log = logging.getLogger(__name__)
# COPY's binary format: a leaf row (leaf_index, position, hash, previous), the log's first
# (previous NULL: length -1), the header and the trailer.
_LEAF_ROW = struct.Struct(">hiqiqi32si32s")
_FIRST_ROW = struct.Struct(">hiqiqi32si")
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
# (size, stored frontier subtrees, leaves after them and the last leaf), as read by a write.
Frontier = tuple[int, dict[Subtree, bytes], dict[int, bytes]]
# More new subtrees than this are sent by COPY.
NODES_BY_COPY = 50
MIGRATION_PAGE = 20_000


class PostgresTree:
    """The leaves and subtrees tables beside one PostgreSQL events table."""

    def __init__(self, datastore: Any, events_table: str) -> None:
        self.datastore = datastore
        self.schema = datastore.schema or "public"
        self.leaves_name = leaves_table(events_table)
        self.events = self._table(events_table)
        self.leaves = self._table(self.leaves_name)
        self.nodes = self._table(nodes_table(events_table))
        self.tip = TipWriter(self)
        fmt = {"leaves": self.leaves, "nodes": self.nodes, "events": self.events}
        # Rows (kind, a, b, hash): the tree's size (-1, n), the leaves after the last stored
        # subtree and the last leaf (-2, leaf_index), the stored subtrees of n's binary
        # decomposition (1, idx, level). Read under the table lock, before this write's rows.
        frontier = SQL(
            "SELECT -1 AS kind, s.n AS a, 0::bigint AS b, NULL::bytea AS hash FROM s "
            "UNION ALL SELECT 1, t.idx, t.level, t.hash FROM s "
            "CROSS JOIN generate_series({low}, 62) AS g(lv) "
            "CROSS JOIN LATERAL (SELECT level, idx, hash FROM {nodes} "
            "  WHERE level = g.lv AND idx = (s.n >> g.lv) - 1) AS t "
            "WHERE ((s.n >> g.lv) & 1) = 1 "
            # The last BLOCK leaves at most, read backwards: a plan the server can keep
            # (a range of unknown size would be planned again at every write).
            "UNION ALL SELECT -2, l.leaf_index, 0, l.hash FROM s CROSS JOIN LATERAL "
            "  (SELECT leaf_index, hash FROM {leaves} WHERE leaf_index < s.n "
            "   ORDER BY leaf_index DESC LIMIT {block}) AS l "
            "  WHERE l.leaf_index >= LEAST(s.n - mod(s.n, {block}), s.n - 1)"
        ).format(low=STORED_FROM_LEVEL, block=BLOCK, **fmt)
        self._frontier = SQL(
            "WITH s AS (SELECT COALESCE(MAX(leaf_index) + 1, 0) AS n FROM {leaves}) {0}"
        ).format(frontier, **fmt)
        # The leaves of events a COPY restored (eventstore.restore), hashed by the server (the
        # leaf input of eventstore.merkle), inserted, and returned (0, leaf_index, position,
        # hash) with the frontier: one round trip. `{source}` yields the new events.
        hashing = (
            "WITH s AS (SELECT COALESCE(MAX(leaf_index) + 1, 0) AS n FROM {leaves}), "
            "e AS ({source}), "
            "h AS (SELECT e.notification_id AS position, sha256('\\x00'::bytea "
            " || int8send(e.notification_id) || uuid_send(e.originator_id)"
            " || int8send(e.originator_version)"
            " || int4send(octet_length(convert_to(e.topic, 'UTF8')))"
            " || convert_to(e.topic, 'UTF8') || int4send(length(e.state)) || e.state) AS hash"
            " FROM e), "
            "l AS (INSERT INTO {leaves} (leaf_index, position, hash, previous) "
            " SELECT s.n - 1 + row_number() OVER w, h.position, h.hash, COALESCE(lag(h.hash)"
            " OVER w, (SELECT p.hash FROM {leaves} AS p WHERE p.leaf_index = s.n - 1)) "
            " FROM h CROSS JOIN s WINDOW w AS (ORDER BY h.position) "
            " RETURNING leaf_index, position, hash) "
            "SELECT 0 AS kind, leaf_index AS a, position AS b, hash FROM l UNION ALL {frontier}"
        )
        self._hash_copied = SQL(hashing).format(
            source=SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {events} WHERE notification_id > %s"
            ).format(**fmt),
            frontier=frontier,
            **fmt,
        )
        self._hashes_statement = SQL(
            "SELECT -1 AS kind, COALESCE(MAX(leaf_index) + 1, 0) AS a, 0::bigint AS b, "
            "NULL::bytea AS hash FROM {leaves} "
            "UNION ALL SELECT 1, n.idx, n.level, n.hash "
            "FROM unnest(%s::smallint[], %s::bigint[]) AS k(level, idx) "
            "JOIN {nodes} AS n ON n.level = k.level AND n.idx = k.idx "
            "UNION ALL SELECT -2, leaf_index, 0, hash FROM {leaves} "
            "WHERE leaf_index = ANY(%s::bigint[])"
        ).format(**fmt)
        self._head_and_frontier = SQL(
            "WITH s AS (SELECT COALESCE(MAX(leaf_index) + 1, 0) AS n FROM {leaves}) "
            "SELECT -3, COALESCE(MAX(notification_id), 0), 0::bigint, NULL::bytea "
            "FROM {events} UNION ALL {frontier}"
        ).format(frontier=frontier, **fmt)
        self._copy_nodes = SQL("COPY {0} (level, idx, hash) FROM STDIN (FORMAT BINARY)").format(
            self.nodes
        )
        self._copy_leaves = SQL(
            "COPY {0} (leaf_index, position, hash, previous) FROM STDIN (FORMAT BINARY)"
        ).format(self.leaves)
        # Positions grow with leaf indices (writers take turns under the lock), so the
        # position of each block's first leaf finds any position's block: a sixteenth of
        # the entries (and of their cost to every write) of an index on every position.
        self.block_index = f"{self.leaves_name}_block_position"
        self._block_index_statement = SQL(
            "CREATE INDEX {0} ON {1} (position) WHERE mod(leaf_index, {block}) = 0"
        ).format(Identifier(self.block_index), self.leaves, block=BLOCK)
        # For each wanted position p: the last block starting at or before it, then the
        # leaves of that block (a range of the primary key; LIMIT keeps the plan a loop).
        block_of = SQL(
            "CROSS JOIN LATERAL (SELECT b.leaf_index FROM {leaves} AS b "
            " WHERE b.position <= p.position AND mod(b.leaf_index, {block}) = 0 "
            " ORDER BY b.position DESC LIMIT 1) AS s "
            "CROSS JOIN LATERAL (SELECT leaf_index, position, hash FROM {leaves} "
            " WHERE leaf_index >= s.leaf_index AND leaf_index < s.leaf_index + {block} "
        ).format(block=BLOCK, **fmt)
        self._at_positions = SQL(
            "SELECT l.leaf_index, l.position, l.hash FROM unnest(%s::bigint[]) AS p(position) "
            "{0} AND position = p.position LIMIT 1) AS l ORDER BY l.leaf_index"
        ).format(block_of)
        self._size_at = SQL(
            "SELECT l.leaf_index FROM (SELECT %s::bigint AS position) AS p "
            "{0} AND position <= p.position ORDER BY leaf_index DESC LIMIT 1) AS l"
        ).format(block_of)
        self._insert_nodes = SQL(
            "INSERT INTO {0} (level, idx, hash) "
            "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
        ).format(self.nodes)

    def _table(self, name: str) -> Composed:
        return SQL("{0}.{1}").format(Identifier(self.schema), Identifier(name))

    # Schema and the one-time hashing of an older store --------------------------------------

    def create(self, lock_statements: Sequence[Any]) -> None:
        """Create the tables; when the store already holds events, hash them all, once."""
        with self._connection() as conn, conn.transaction(), conn.cursor() as curs:
            for statement in lock_statements:
                curs.execute(statement)
            if self._exists(curs, self.leaves_name):
                if not self._exists(curs, self.block_index):
                    self._index_blocks(curs)
                return
            curs.execute(
                SQL(
                    "CREATE TABLE {0} (leaf_index bigint PRIMARY KEY, position bigint NOT NULL, "
                    "hash bytea NOT NULL, previous bytea)"
                ).format(self.leaves)
            )
            curs.execute(self._block_index_statement)
            curs.execute(
                SQL(
                    "CREATE TABLE {0} (level smallint NOT NULL, idx bigint NOT NULL, "
                    "hash bytea NOT NULL, PRIMARY KEY (level, idx))"
                ).format(self.nodes)
            )
            self._hash_existing(conn, curs)

    def _exists(self, curs: Any, name: str) -> bool:
        curs.execute("SELECT to_regclass(%s) AS found", (f'"{self.schema}"."{name}"',))
        row = curs.fetchone()
        return row is not None and row["found"] is not None

    def _index_blocks(self, curs: Any) -> None:
        """Give a store written by the code of 2026-12-04 the block index, not the full one."""
        log.warning("indexing the leaves by block (once) instead of by every position")
        curs.execute(self._block_index_statement)
        curs.execute(
            SQL("DROP INDEX IF EXISTS {0}.{1}").format(
                Identifier(self.schema), Identifier(f"{self.leaves_name}_position")
            )
        )

    def _hash_existing(self, conn: Any, curs: Any) -> None:
        curs.execute(
            SQL("SELECT COALESCE(MAX(notification_id), 0) AS head FROM {0}").format(self.events)
        )
        row = curs.fetchone()
        if not row or not row["head"]:
            return
        head = int(row["head"])
        log.warning("hashing the events (up to position %d) of a store older than its tree", head)
        growth = Growth(0, {}, [])
        previous: bytes | None = None
        done = 0
        with conn.cursor(name="funding_hash_existing") as events:
            events.itersize = MIGRATION_PAGE
            events.execute(
                SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, state "
                    "FROM {0} ORDER BY notification_id"
                ).format(self.events)
            )
            while rows := events.fetchmany(MIGRATION_PAGE):
                stored = [_stored(r) for r in rows]
                leaves = leaves_of(done, [int(r["notification_id"]) for r in rows], stored)
                for leaf in leaves:
                    growth.append(leaf.hash)
                self._copy(
                    curs, done, [x.position for x in leaves], [x.hash for x in leaves], previous
                )
                self.write_nodes(curs, growth.new_nodes)
                growth.new_nodes = []
                previous = leaves[-1].hash
                done += len(leaves)
                log.warning(
                    "hashed %d events (to position %d of %d)", done, leaves[-1].position, head
                )

    # Writes (inside the recorder's transaction, under its lock) ------------------------------

    def head_and_frontier(self, curs: Any) -> tuple[int, Frontier]:
        """The events' head position and the tree's frontier (see `_parse`), in one read."""
        curs.execute(self._head_and_frontier, prepare=True)
        rows = [tuple(row.values()) for row in curs.fetchall()]
        head = next((row[1] for row in rows if row[0] == -3), 0)
        return head, self._parse([row for row in rows if row[0] != -3])

    def add_hashed_leaves(
        self,
        curs: Any,
        positions: Sequence[int],
        hashes: Sequence[bytes],
        frontier: Frontier,
    ) -> None:
        """Add the leaves (hashed, in position order) of events this transaction wrote."""
        size, nodes, tail = frontier
        self._copy(curs, size, positions, hashes, tail.get(size - 1))
        growth = Growth(size, nodes, [tail[i] for i in range(size - size % BLOCK, size)])
        growth.extend(hashes)
        self.write_nodes(curs, growth.new_nodes)

    def add_leaves_after(self, curs: Any, head: int) -> list[int]:
        """Add the leaves of the events this transaction wrote after `head` (by COPY)."""
        with curs.connection.cursor(row_factory=tuple_row) as rows:
            rows.execute(self._hash_copied, (head,), binary=True)
            return self.add_nodes(curs, rows.fetchall())

    def add_nodes(self, curs: Any, rows: Sequence[tuple[Any, ...]]) -> list[int]:
        """From the new leaves and the frontier, write the subtrees completed; the positions.

        `rows` are (kind, a, b, hash): (0, leaf_index, position) for each new leaf, and the
        frontier read before them (see `_parse`).
        """
        new = sorted(row[1:] for row in rows if row[0] == 0)
        size, nodes, tail = self._parse([row for row in rows if row[0] != 0])
        growth = Growth(size, nodes, [tail[i] for i in range(size - size % BLOCK, size)])
        growth.extend([h for _, _, h in new])
        self.write_nodes(curs, growth.new_nodes)
        return [position for _, position, _ in new]

    def _copy(
        self,
        curs: Any,
        first: int,
        positions: Sequence[int],
        hashes: Sequence[bytes],
        previous: bytes | None,
    ) -> None:
        """COPY leaves numbered from `first`: rows packed here, sent at once (no row by row)."""
        pack = _LEAF_ROW.pack
        rows = [_COPY_HEADER]
        if previous is None and hashes:  # the log's first leaf keeps no copy
            rows.append(_FIRST_ROW.pack(4, 8, first, 8, positions[0], 32, hashes[0], -1))
            first, positions, previous, hashes = first + 1, positions[1:], hashes[0], hashes[1:]
        for i, (position, h) in enumerate(zip(positions, hashes, strict=True)):
            rows.append(pack(4, 8, first + i, 8, position, 32, h, 32, previous))
            previous = h
        rows.append(_COPY_TRAILER)
        with curs.copy(self._copy_leaves) as copy:
            copy.write(b"".join(rows))

    def write_nodes(self, curs: Any, nodes: Sequence[Node]) -> None:
        if len(nodes) > NODES_BY_COPY:
            with curs.copy(self._copy_nodes) as copy:
                copy.set_types(["int2", "int8", "bytea"])
                for n in nodes:
                    copy.write_row((n.level, n.index, n.hash))
        elif nodes:
            curs.execute(
                self._insert_nodes,
                ([n.level for n in nodes], [n.index for n in nodes], [n.hash for n in nodes]),
                binary=True,
            )

    # Reads (eventstore.leaves.TreeStore) ----------------------------------------------------

    def tree_size(self) -> int:
        row = self._one(SQL("SELECT MAX(leaf_index) FROM {0}").format(self.leaves))
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def frontier(self) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        size, nodes, tail = self._parse(self._all(self._frontier))
        return size, nodes, {i: h for i, h in tail.items() if i >= size - size % BLOCK}

    def hashes(
        self, keys: Collection[Subtree], indices: Collection[int]
    ) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        rows = self._all(
            self._hashes_statement,
            ([k[0] for k in keys], [k[1] for k in keys], list(indices)),
        )
        return self._parse(rows)

    @staticmethod
    def _parse(rows: Sequence[Any]) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        size = 0
        nodes: dict[Subtree, bytes] = {}
        leaves: dict[int, bytes] = {}
        for kind, a, b, h in rows:
            if kind == -1:
                size = a
            elif kind == -2:
                leaves[a] = h
            else:
                nodes[(b, a)] = h
        return size, nodes, leaves

    def leaves_at_positions(self, positions: Collection[int]) -> list[Leaf]:
        if not positions:
            return []
        rows = self._all(self._at_positions, (sorted(positions),))
        return [Leaf(int(i), int(p), bytes(h)) for i, p, h in rows]

    def size_at(self, position: int) -> int:
        row = self._one(self._size_at, (position,))
        return 0 if row is None else int(row[0]) + 1

    def _one(self, statement: Any, params: Any = None) -> Any:
        rows = self._all(statement, params)
        return rows[0] if rows else None

    def _all(self, statement: Any, params: Any = None) -> list[Any]:
        # One statement on a connection in autocommit: one round trip.
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True, binary=True)
            return list(curs.fetchall())

    @contextmanager
    def scan(self, page: int = 5000) -> Iterator[PostgresScan]:
        """A snapshot of the whole log for `eventstore.verify.verify_log`."""
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield PostgresScan(conn, self.events, self.leaves, self.nodes, page)
            finally:
                conn.execute("ROLLBACK")

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        # Long work (hashing an older store, verifying the log) is not bounded by the
        # deadline of a request's statements.
        get = getattr(self.datastore, "_funding_unguarded", self.datastore.get_connection)
        with get() as conn:
            yield conn


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=int(row["originator_version"]),
        topic=row["topic"],
        state=bytes(row["state"]),
    )
