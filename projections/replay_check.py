"""The replay check: every read model rebuilt from the log, compared row by row with the live one.

The read models are rebuilt into a scratch database (see `scratch.py`) up to the positions
the live ones have reached, by the very feeds the projector uses, then compared table by
table on their primary keys, in one snapshot of the live read models taken when they stand
at the replayed positions (the live projector keeps running: the replay catches up with
it first). Any difference means a read model no longer says what the log says: a row
edited by hand, a feed that changed meaning, a page applied twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from domain.application import Ledger
from projections.db import BUSY_TIMEOUT_SECONDS, ReadModelDatabase
from projections.feed import apply_changes, catch_up
from projections.generations import (
    create_generation,
    read_live_position,
    settle_all,
    tables_of,
    tracked_position,
)
from projections.layout import generation_table
from projections.notification_log import decode_rows, select_rows
from projections.rebuild import REBUILD_PAGE_SIZE
from projections.registry import READ_MODELS, registered
from projections.scratch import Scratch, scratch_database, unlogged
from projections.sql import Cursor, Dialect

# Times the replay catches up with live read models that moved before it could compare.
CHASES = 20
MAX_DIFFERENCES = 1000
ROW = "(row)"

Progress = Callable[[int, int], None]


class ReplayCheckError(RuntimeError):
    """The check could not compare: the live read models kept moving, or none exists."""


@dataclass(frozen=True, slots=True)
class Difference:
    """A value the live read model holds that the replayed one does not (or the reverse)."""

    table: str
    key: tuple[tuple[str, Any], ...]
    column: str
    live: Any
    replayed: Any

    def __str__(self) -> str:
        key = ", ".join(f"{name}={value}" for name, value in self.key)
        return f"{self.table} [{key}] {self.column}: live {self.live!r}, replayed {self.replayed!r}"


@dataclass(slots=True)
class ReplayOutcome:
    """What the check compared, and every difference found (at most `limit` per table)."""

    positions: dict[str, int]
    tables: int = 0
    differences: list[Difference] = field(default_factory=list)
    # Tables with more differences than were listed.
    truncated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the live read models equal the replayed ones."""
        return not self.differences


def replay_check(
    ledger: Ledger,
    live: ReadModelDatabase,
    database_url: str,
    *,
    page_size: int = REBUILD_PAGE_SIZE,
    progress: Progress | None = None,
    max_differences: int = MAX_DIFFERENCES,
) -> ReplayOutcome:
    """Rebuild every read model from the log into scratch tables and compare with the live."""
    with scratch_database(database_url) as scratch:
        if live.dialect is Dialect.SQLITE and scratch.sqlite_file is None:
            raise ReplayCheckError("the replay check needs a store in a file or on PostgreSQL")
        stops = _live_positions(live)
        if not stops:
            raise ReplayCheckError("no read model has been built yet: run the projector first")
        targets = {name: create_generation(scratch.db, name, bulk=True) for name in stops}
        for name, generation in targets.items():
            unlogged(scratch.db, name, generation)
        _replay(
            ledger, scratch.db, targets, {n: p for n, (_, p) in stops.items()}, page_size, progress
        )
        settle_all(scratch.db, targets)
        for _ in range(CHASES):
            for name, (_, position) in _live_positions(live).items():
                if name in targets:
                    catch_up(ledger, scratch.db, name, page_size, targets[name], stop=position)
            replayed = {name: _position(scratch.db, name, g) for name, g in targets.items()}
            with _snapshot(live, scratch) as (cur, scratch_prefix):
                seen = {name: read_live_position(live, cur, name) for name in targets}
                if any(seen[name][1] > replayed[name] for name in targets):
                    continue  # the projector moved meanwhile: catch up with it again
                outcome = ReplayOutcome({name: position for name, (_, position) in seen.items()})
                for name, generation in targets.items():
                    _compare_model(
                        live,
                        cur,
                        scratch,
                        scratch_prefix,
                        name,
                        seen[name][0],
                        generation,
                        max_differences,
                        outcome,
                    )
                return outcome
    raise ReplayCheckError(
        f"the live read models moved on {CHASES} times while the replay caught up: run again"
    )


def _live_positions(live: ReadModelDatabase) -> dict[str, tuple[int, int]]:
    """(live generation, position) of each read model that has one."""
    with live.transaction(readonly=True) as cur:
        found = {name: read_live_position(live, cur, name) for name in READ_MODELS}
    return {name: state for name, state in found.items() if state[0] != 0}


def _position(db: ReadModelDatabase, name: str, generation: int) -> int:
    with db.transaction(readonly=True) as cur:
        return tracked_position(db, cur, name, generation)


def _replay(
    ledger: Ledger,
    db: ReadModelDatabase,
    targets: Mapping[str, int],
    stops: Mapping[str, int],
    page_size: int,
    progress: Progress | None,
) -> None:
    """Feed each generation with the log up to its own stop, reading each page once."""
    high = max(stops.values())
    start = 1
    while start <= high:
        rows = select_rows(ledger.recorder, start, page_size, high)
        if not rows:
            break
        changes = decode_rows(rows, ledger.mapper)
        for name, generation in targets.items():
            stop = stops[name]
            if rows[0][0] > stop:
                continue
            if rows[-1][0] <= stop:
                apply_changes(db, name, generation, changes, rows[-1][0])
            else:
                last = max(row[0] for row in rows if row[0] <= stop)
                page = [c for c in changes if c.position <= stop]
                apply_changes(db, name, generation, page, last)
        if progress is not None:
            progress(rows[-1][0], high)
        start = rows[-1][0] + 1


@contextmanager
def _snapshot(live: ReadModelDatabase, scratch: Scratch) -> Iterator[tuple[Cursor, str]]:
    """One read-only snapshot of the live read models, from which the scratch ones are read
    too; yields the cursor and the prefix naming the scratch tables on its connection."""
    if live.dialect is Dialect.POSTGRES:
        # Not a `readonly` transaction: the comparison may outlast a query's deadline.
        with live.transaction() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cur, ""
        return
    # SQLite: the scratch file attached to a connection of the live one.
    path = _sqlite_file(live)
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        conn.execute("ATTACH DATABASE ? AS scratch", (str(scratch.sqlite_file),))
        raw = conn.cursor()
        raw.execute("BEGIN")
        try:
            yield Cursor(live, raw), "scratch."
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


def _sqlite_file(live: ReadModelDatabase) -> str:
    with live.transaction(readonly=True) as cur:
        cur.execute("SELECT file FROM pragma_database_list WHERE name = 'main'")
        row = cur.fetchone()
    if row is None or not row[0]:
        raise ReplayCheckError("the live read models are not in a file")
    return str(row[0])


def _compare_model(
    live: ReadModelDatabase,
    cur: Cursor,
    scratch: Scratch,
    scratch_prefix: str,
    name: str,
    live_generation: int,
    generation: int,
    limit: int,
    outcome: ReplayOutcome,
) -> None:
    """Compare a read model's tracking row and every table with the replayed generation."""
    _compare_tracking(
        live, cur, scratch, scratch_prefix, name, live_generation, generation, outcome
    )
    present = tables_of(live, cur, name, live_generation)
    for table in registered(name).layout.tables:
        outcome.tables += 1
        if table not in present:
            outcome.differences.append(Difference(table, (), ROW, "no such table", "present"))
            continue
        _compare_table(
            live,
            cur,
            table,
            live.table(generation_table(table, live_generation)),
            scratch_prefix + scratch.db.table(generation_table(table, generation)),
            limit,
            outcome,
        )


def _compare_tracking(
    live: ReadModelDatabase,
    cur: Cursor,
    scratch: Scratch,
    scratch_prefix: str,
    name: str,
    live_generation: int,
    generation: int,
    outcome: ReplayOutcome,
) -> None:
    sql = "SELECT position, event_at FROM {} WHERE read_model = ? AND generation = ?"
    cur.execute(sql.format(live.table("tracking")), (name, live_generation))
    live_row = cur.fetchone()
    cur.execute(sql.format(scratch_prefix + scratch.db.table("tracking")), (name, generation))
    replayed_row = cur.fetchone()
    for column, live_value, replayed_value in zip(
        ("position", "event_at"),
        live_row or (None, None),
        replayed_row or (None, None),
        strict=True,
    ):
        if str(live_value) != str(replayed_value):
            outcome.differences.append(
                Difference("tracking", (("read_model", name),), column, live_value, replayed_value)
            )


def _compare_table(
    db: ReadModelDatabase,
    cur: Cursor,
    label: str,
    live_table: str,
    scratch_table: str,
    limit: int,
    outcome: ReplayOutcome,
) -> None:
    """List the rows that differ between two tables of the same layout, by primary key."""
    replayed_columns, keys = _columns(db, cur, scratch_table)
    live_columns, _ = _columns(db, cur, live_table)
    if live_columns != replayed_columns:
        outcome.differences.append(
            Difference(label, (), "(columns)", live_columns, replayed_columns)
        )
    values = [c for c in replayed_columns if c in live_columns and c not in keys]
    if not keys:
        keys = [c for c in replayed_columns if c in live_columns]
        values = []
    join = " AND ".join(f"l.{k} = s.{k}" for k in keys)
    order = ", ".join(f"l.{k}" for k in keys)
    distinct = "IS NOT" if db.dialect is Dialect.SQLITE else "IS DISTINCT FROM"
    found = 0
    if values:
        differ = " OR ".join(f"l.{c} {distinct} s.{c}" for c in values)
        cur.execute(
            f"SELECT {', '.join(f'l.{k}' for k in keys)}, "  # noqa: S608
            f"{', '.join(f'l.{c}' for c in values)}, {', '.join(f's.{c}' for c in values)} "
            f"FROM {live_table} l JOIN {scratch_table} s ON {join} WHERE {differ} "
            f"ORDER BY {order} LIMIT ?",
            (limit + 1,),
        )
        for row in cur.fetchall():
            key = tuple(zip(keys, row[: len(keys)], strict=True))
            live_values = row[len(keys) : len(keys) + len(values)]
            replayed_values = row[len(keys) + len(values) :]
            for column, a, b in zip(values, live_values, replayed_values, strict=True):
                if a != b:
                    outcome.differences.append(Difference(label, key, column, a, b))
            found += 1
    for outer, inner, live_side in (
        (live_table, scratch_table, True),
        (scratch_table, live_table, False),
    ):
        cur.execute(
            f"SELECT {', '.join(f'l.{k}' for k in keys)} FROM {outer} l "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT 1 FROM {inner} s WHERE {join}) ORDER BY {order} LIMIT ?",
            (limit + 1,),
        )
        for row in cur.fetchall():
            key = tuple(zip(keys, row, strict=True))
            outcome.differences.append(
                Difference(
                    label,
                    key,
                    ROW,
                    "present" if live_side else "absent",
                    "absent" if live_side else "present",
                )
            )
            found += 1
    if found > limit:
        outcome.truncated.append(label)


def _columns(db: ReadModelDatabase, cur: Cursor, table: str) -> tuple[list[str], list[str]]:
    """A table's columns in order, and its primary key's columns in key order."""
    if db.dialect is Dialect.SQLITE:
        schema, _, name = table.rpartition(".")
        cur.execute(
            "SELECT name, pk FROM pragma_table_info(?, ?) ORDER BY cid", (name, schema or "main")
        )
    else:
        cur.execute(
            "SELECT a.attname, COALESCE((SELECT k.n FROM unnest(i.indkey::int2[]) "
            "WITH ORDINALITY AS k(attnum, n) WHERE k.attnum = a.attnum), 0) "
            "FROM pg_attribute a LEFT JOIN pg_index i "
            "ON i.indrelid = a.attrelid AND i.indisprimary "
            "WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (table,),
        )
    rows = cur.fetchall()
    columns = [str(name) for name, _ in rows]
    keys = [str(name) for name, rank in sorted(rows, key=lambda r: int(r[1])) if int(rank) > 0]
    return columns, keys
