"""A small write's events, leaves and subtrees in one statement, from a frontier kept here.

The writing process keeps the *tip* of the log as its last write left it: the events' head
position, the tree's size, the frontier of its binary decomposition and the last leaf. Under
the table lock, a write numbers its events head + 1, head + 2, …, hashes their leaves and the
subtrees they complete here, and sends all of it in one statement whose every insert is
guarded by the head and size the server reads under that lock: when another process (or
thread) wrote since, nothing is inserted, the tip is read again in the same transaction and
the statement sent once more. The positions are chosen, not drawn from the sequence: the lock
makes head + 1 … head + n free; the statement moves the sequence past them (never back), so
a writer that draws from it (a COPY, the library's own insert) numbers after them.

A tip is kept only once its write committed; a rolled-back or unsettled write leaves the kept
one, which the guard then finds stale.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.sql import SQL, Identifier, Literal

from eventstore.leaves import BLOCK, Growth, column_hashes


@dataclass(frozen=True)
class Tip:
    """The log as a write leaves it: head position, tree size, frontier, last leaf."""

    head: int
    size: int
    stack: tuple[tuple[int, int, bytes], ...]
    last: bytes | None


class TipWriter:
    """Writes of up to a few thousand events from a kept tip (see the module's text)."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree
        self._kept: Tip | None = None
        self._lock = threading.Lock()
        # The statement without subtrees and the one with, rendered once.
        self._statements: tuple[bytes, bytes] | None = None
        self.reloads = 0  # tips read again because another writer went first (benchmarks)

    def kept(self) -> Tip | None:
        with self._lock:
            return self._kept

    def keep(self, tip: Tip) -> None:
        """Keep a committed tip (the newest of those offered)."""
        with self._lock:
            if self._kept is None or tip.size >= self._kept.size:
                self._kept = tip

    def insert(self, curs: Any, columns: Sequence[list[Any]]) -> tuple[list[int], Tip]:
        """Insert events (four columns), their leaves and subtrees; positions and the new tip."""
        tip = self.kept()
        if tip is None or self._statements is None:
            tip = self._read_tip(curs)
        ids, grown = self.send(curs, columns, tip)
        if ids is None:  # another writer went first: read the tip under the lock, again
            self.reloads += 1
            ids, grown = self.send(curs, columns, self._read_tip(curs))
            if ids is None:
                raise RuntimeError("the log's tip moved while the table lock was held")
        return ids, grown

    def send(
        self, curs: Any, columns: Sequence[list[Any]], tip: Tip
    ) -> tuple[list[int] | None, Tip]:
        count = len(columns[0])
        positions = range(tip.head + 1, tip.head + 1 + count)
        hashes = column_hashes(positions, *columns)
        growth = Growth.resume(tip.size, tip.stack)
        growth.extend(hashes)
        nodes = growth.new_nodes
        if self._statements is None:
            self._statements = self._prepare(curs)
        params: dict[str, Any] = {
            "size": tip.size,
            "head": tip.head,
            "new_head": tip.head + count,
            "ids": columns[0],
            "versions": columns[1],
            "topics": columns[2],
            "states": columns[3],
            "hashes": b"".join(hashes),
            "last": tip.last,
        }
        if nodes:
            params["levels"] = [n.level for n in nodes]
            params["indices"] = [n.index for n in nodes]
            params["nodes"] = [n.hash for n in nodes]
        curs.execute(self._statements[bool(nodes)], params, binary=True, prepare=True)
        returned = [int(row["notification_id"]) for row in curs.fetchall()]
        grown = Tip(tip.head + count, growth.size, growth.stack, hashes[-1])
        if not returned:
            return None, grown
        if returned != list(positions):
            raise RuntimeError(f"the store numbered the events {returned}, not {positions}")
        return list(positions), grown

    def _read_tip(self, curs: Any) -> Tip:
        """The tip as committed, read under the lock this transaction holds."""
        if self._statements is None:
            self._statements = self._prepare(curs)
        head, (size, nodes, tail) = self.tree.head_and_frontier(curs)
        start = size - size % BLOCK
        growth = Growth(size, nodes, [tail[i] for i in range(start, size)])
        tip = Tip(head, size, growth.stack, tail.get(size - 1))
        self.keep(tip)
        return tip

    def _prepare(self, curs: Any) -> tuple[bytes, bytes]:
        curs.execute(
            "SELECT pg_get_serial_sequence(%s, 'notification_id') AS seq",
            (f"{self.tree.events.as_string(curs)}",),
        )
        row = curs.fetchone()
        if row is None or row["seq"] is None:
            raise RuntimeError("the events table has no sequence for its positions")
        schema, _, name = str(row["seq"]).rpartition(".")
        sequence = SQL("{0}.{1}").format(Identifier(schema.strip('"')), Identifier(name.strip('"')))
        fmt = {"events": self.tree.events, "leaves": self.tree.leaves, "nodes": self.tree.nodes}
        # Every insert is guarded by `ok`: one row (after moving the sequence past the new
        # positions) when the head and size read under the lock are the tip's, none otherwise.
        # The leaf hashes come as one string of 32-byte hashes, each leaf's copy of the
        # previous hash is taken from them (and the tip's last leaf) here.
        leaves = (
            "WITH ok AS (SELECT setval({seq_name}::regclass, GREATEST(%(new_head)s::bigint, "
            "  (SELECT last_value FROM {seq}))) AS v "
            " WHERE (SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM {leaves}) = %(size)s::bigint "
            " AND (SELECT COALESCE(MAX(notification_id), 0) FROM {events}) = %(head)s::bigint), "
            "e AS (INSERT INTO {events} (notification_id, originator_id, originator_version, "
            " topic, state) SELECT %(head)s::bigint + x.n, x.i, x.v, x.t, x.s "
            " FROM unnest(%(ids)s::uuid[], %(versions)s::bigint[], %(topics)s::text[], "
            " %(states)s::bytea[]) WITH ORDINALITY AS x(i, v, t, s, n) "
            " WHERE EXISTS (SELECT FROM ok) ORDER BY x.n RETURNING notification_id), "
            "l AS (INSERT INTO {leaves} (leaf_index, position, hash, previous) "
            " SELECT %(size)s::bigint + y.n - 1, %(head)s::bigint + y.n, "
            " substring(%(hashes)s::bytea FROM y.n::int * 32 - 31 FOR 32), "
            " CASE WHEN y.n = 1 THEN %(last)s::bytea "
            "  ELSE substring(%(hashes)s::bytea FROM y.n::int * 32 - 63 FOR 32) END "
            # (numbered by an array's ordinality, as the events: a range's estimate of
            # 1,000 rows would have the server plan the statement again at every write)
            " FROM unnest(%(versions)s::bigint[]) WITH ORDINALITY AS y(v, n) "
            " WHERE EXISTS (SELECT FROM ok)) "
        )
        nodes = (
            ", d AS (INSERT INTO {nodes} (level, idx, hash) "
            " SELECT * FROM unnest(%(levels)s::smallint[], %(indices)s::bigint[], "
            " %(nodes)s::bytea[]) "
            " WHERE EXISTS (SELECT FROM ok)) "
        )
        returned = "SELECT notification_id FROM e ORDER BY notification_id"
        seq = {"seq": sequence, "seq_name": Literal(str(row["seq"]))}
        without, with_nodes = (
            SQL(text).format(**seq, **fmt).as_bytes(curs)
            for text in (leaves + returned, leaves + nodes + returned)
        )
        return without, with_nodes
