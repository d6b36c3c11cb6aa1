"""The log's Merkle leaves and subtrees in the PostgreSQL store.

`LedgerPostgresRecorder` calls `append` inside its write transaction, after the events'
positions are known and before the COMMIT, under the events table's lock: the leaves commit
or vanish with their events, and writers take turns, so leaf indices stay dense. A write
costs two more statements: one reads the frontier (tree size, the stored subtrees of its
binary decomposition, the leaves after them), one writes the leaves and new subtrees (a COPY
for a large write). A store that had events before the tree existed gets its tables, and
every event hashed, once, under the same lock (`create`).
"""

from __future__ import annotations

import logging
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
    ScannedEvent,
    ScannedLeaf,
    leaves_of,
)
from eventstore.merkle import Subtree
from eventstore.settings import leaves_table, nodes_table

log = logging.getLogger(__name__)
MIGRATION_PAGE = 20_000
# A write of more leaves than this sends them with COPY.
COPY_ABOVE_LEAVES = 2000


class PostgresTree:
    """The leaves and subtrees tables beside one PostgreSQL events table."""

    def __init__(self, datastore: Any, events_table: str) -> None:
        self.datastore = datastore
        self.schema = datastore.schema or "public"
        self.leaves_name = leaves_table(events_table)
        self.events = self._table(events_table)
        self.leaves = self._table(self.leaves_name)
        self.nodes = self._table(nodes_table(events_table))
        self._frontier = SQL(
            "WITH s AS (SELECT COALESCE(MAX(leaf_index) + 1, 0) AS n FROM {leaves}) "
            "SELECT -1 AS level, s.n AS idx, NULL::bytea AS hash FROM s "
            "UNION ALL SELECT t.level, t.idx, t.hash FROM s "
            "CROSS JOIN generate_series({low}, 62) AS g(lv) "
            "CROSS JOIN LATERAL (SELECT level, idx, hash FROM {nodes} "
            "  WHERE level = g.lv AND idx = (s.n >> g.lv) - 1) AS t "
            "WHERE ((s.n >> g.lv) & 1) = 1 "
            "UNION ALL SELECT -2, l.leaf_index, l.hash FROM s JOIN {leaves} AS l "
            "  ON l.leaf_index >= LEAST(s.n - s.n % {block}, s.n - 1)"
        ).format(leaves=self.leaves, nodes=self.nodes, low=STORED_FROM_LEVEL, block=BLOCK)
        self._write_statement = SQL(
            "WITH l AS (INSERT INTO {leaves} (leaf_index, position, hash, previous) "
            "  SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::bytea[])) "
            "INSERT INTO {nodes} (level, idx, hash) "
            "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
        ).format(leaves=self.leaves, nodes=self.nodes)
        self._copy_leaves = SQL(
            "COPY {0} (leaf_index, position, hash, previous) FROM STDIN (FORMAT BINARY)"
        ).format(self.leaves)

    def _table(self, name: str) -> Composed:
        return SQL("{0}.{1}").format(Identifier(self.schema), Identifier(name))

    # Schema and the one-time hashing of an older store --------------------------------------

    def create(self, lock_statements: Sequence[Any]) -> None:
        """Create the tables; when the store already holds events, hash them all, once."""
        with self._connection() as conn, conn.transaction(), conn.cursor() as curs:
            for statement in lock_statements:
                curs.execute(statement)
            curs.execute(
                "SELECT to_regclass(%s) AS found",
                (f'"{self.schema}"."{self.leaves_name}"',),
            )
            row = curs.fetchone()
            if row is not None and row["found"] is not None:
                return
            curs.execute(
                SQL(
                    "CREATE TABLE {0} (leaf_index bigint PRIMARY KEY, position bigint NOT NULL, "
                    "hash bytea NOT NULL, previous bytea)"
                ).format(self.leaves)
            )
            curs.execute(
                SQL("CREATE INDEX {0} ON {1} (position)").format(
                    Identifier(f"{self.leaves_name}_position"), self.leaves
                )
            )
            curs.execute(
                SQL(
                    "CREATE TABLE {0} (level smallint NOT NULL, idx bigint NOT NULL, "
                    "hash bytea NOT NULL, PRIMARY KEY (level, idx))"
                ).format(self.nodes)
            )
            self._hash_existing(conn, curs)

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
                self._copy(curs, leaves, previous)
                self._write_nodes(curs, growth.new_nodes)
                growth.new_nodes = []
                previous = leaves[-1].hash
                done += len(leaves)
                log.warning(
                    "hashed %d events (to position %d of %d)", done, leaves[-1].position, head
                )

    # Writes (inside the recorder's transaction, under its lock) ------------------------------

    def append(self, curs: Any, positions: Sequence[int], events: Sequence[StoredEvent]) -> None:
        """Add the leaves of events just recorded in this transaction, and their nodes."""
        curs.execute(self._frontier, prepare=True)
        size = 0
        nodes: dict[Subtree, bytes] = {}
        tail: dict[int, bytes] = {}
        for row in curs.fetchall():
            level = int(row["level"])
            if level == -1:
                size = int(row["idx"])
            elif level == -2:
                tail[int(row["idx"])] = bytes(row["hash"])
            else:
                nodes[(level, int(row["idx"]))] = bytes(row["hash"])
        first_tail = size - size % BLOCK
        growth = Growth(size, nodes, [tail[i] for i in range(first_tail, size)])
        leaves = leaves_of(size, positions, events)
        for leaf in leaves:
            growth.append(leaf.hash)
        previous = tail.get(size - 1)
        if len(leaves) > COPY_ABOVE_LEAVES:
            self._copy(curs, leaves, previous)
            self._write_nodes(curs, growth.new_nodes)
            return
        new = growth.new_nodes
        curs.execute(
            self._write_statement,
            (
                [leaf.leaf_index for leaf in leaves],
                [leaf.position for leaf in leaves],
                [leaf.hash for leaf in leaves],
                [previous, *(leaf.hash for leaf in leaves[:-1])],
                [n.level for n in new],
                [n.index for n in new],
                [n.hash for n in new],
            ),
            binary=True,
        )

    def _copy(self, curs: Any, leaves: Sequence[Leaf], previous: bytes | None) -> None:
        with curs.copy(self._copy_leaves) as copy:
            copy.set_types(["int8", "int8", "bytea", "bytea"])
            for leaf in leaves:
                copy.write_row((leaf.leaf_index, leaf.position, leaf.hash, previous))
                previous = leaf.hash

    def _write_nodes(self, curs: Any, nodes: Sequence[Node]) -> None:
        if nodes:
            curs.execute(
                SQL(
                    "INSERT INTO {0} (level, idx, hash) "
                    "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
                ).format(self.nodes),
                ([n.level for n in nodes], [n.index for n in nodes], [n.hash for n in nodes]),
                binary=True,
            )

    # Reads (eventstore.leaves.TreeStore) ----------------------------------------------------

    def tree_size(self) -> int:
        row = self._one(SQL("SELECT MAX(leaf_index) AS m FROM {0}").format(self.leaves))
        return 0 if row is None or row["m"] is None else int(row["m"]) + 1

    def node_hashes(self, keys: Collection[Subtree]) -> dict[Subtree, bytes]:
        if not keys:
            return {}
        rows = self._all(
            SQL(
                "SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[]) "
                "AS k(level, idx) JOIN {0} AS n ON n.level = k.level AND n.idx = k.idx"
            ).format(self.nodes),
            ([k[0] for k in keys], [k[1] for k in keys]),
        )
        return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in rows}

    def leaf_hashes_at(self, indices: Collection[int]) -> dict[int, bytes]:
        return {leaf.leaf_index: leaf.hash for leaf in self._leaves("leaf_index", indices)}

    def leaves_at_positions(self, positions: Collection[int]) -> list[Leaf]:
        return self._leaves("position", positions)

    def _leaves(self, column: str, values: Collection[int]) -> list[Leaf]:
        if not values:
            return []
        rows = self._all(
            SQL(
                "SELECT leaf_index, position, hash FROM {0} WHERE {1} = ANY(%s) ORDER BY leaf_index"
            ).format(self.leaves, Identifier(column)),
            (list(values),),
        )
        return [Leaf(int(r["leaf_index"]), int(r["position"]), bytes(r["hash"])) for r in rows]

    def size_at(self, position: int) -> int:
        row = self._one(
            SQL(
                "SELECT leaf_index FROM {0} WHERE position <= %s ORDER BY position DESC LIMIT 1"
            ).format(self.leaves),
            (position,),
        )
        return 0 if row is None else int(row["leaf_index"]) + 1

    def _one(self, statement: Any, params: Any = None) -> Any:
        rows = self._all(statement, params)
        return rows[0] if rows else None

    def _all(self, statement: Any, params: Any = None) -> list[Any]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, params, prepare=True)
            return list(curs.fetchall())

    @contextmanager
    def scan(self, page: int = 5000) -> Iterator[PostgresScan]:
        """A snapshot of the whole log for `eventstore.verify.verify_log`."""
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield PostgresScan(self, conn, page)
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


class PostgresScan:
    """One REPEATABLE READ snapshot of the events, leaves and subtrees, streamed in pages."""

    def __init__(self, tree: PostgresTree, conn: Any, page: int) -> None:
        self.tree = tree
        self.conn = conn
        self.page = page
        curs = conn.execute(
            SQL("SELECT COALESCE(MAX(notification_id), 0) AS head FROM {0}").format(tree.events)
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
        ).format(self.tree.events)
        for p, i, v, t, s in self._stream("funding_scan_events", statement):
            yield ScannedEvent(p, i, v, t, s)

    def leaves(self) -> Iterator[ScannedLeaf]:
        statement = SQL(
            "SELECT leaf_index, position, hash, previous FROM {0} ORDER BY leaf_index"
        ).format(self.tree.leaves)
        for i, p, h, prev in self._stream("funding_scan_leaves", statement):
            yield ScannedLeaf(i, p, h, prev)

    def nodes(self) -> Iterator[Node]:
        statement = SQL(
            "SELECT level, idx, hash FROM {0} ORDER BY (idx + 1) << level, level"
        ).format(self.tree.nodes)
        for level, index, h in self._stream("funding_scan_nodes", statement):
            yield Node(level, index, h)
