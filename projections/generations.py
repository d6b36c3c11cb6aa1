"""The generations of every read model: tracking, blue/green swaps, bulk settling.

A rebuild creates a new generation beside the live one, catches it up, then `swap` makes
it live in one transaction: the `generations` row moves, the plain-named views (`facts`,
`projects`…) are recreated over it and the previous generation's tables are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from projections.db import ReadModelDatabase
from projections.layout import generation_table
from projections.reference_tables import ENVELOPES_VIEW, envelope_view
from projections.registry import PROJECTS, ReadModel, registered
from projections.sql import Cursor, Dialect

# Tasks of a settle run at once on PostgreSQL (connections of the read models' pool).
SETTLE_WORKERS = 2


class UnknownGenerationError(LookupError):
    """No such generation of this read model (never created, or dropped by a swap)."""


def live_generation(db: ReadModelDatabase, read_model: str) -> int | None:
    """Return the generation dashboards read, or None before the first one."""
    registered(read_model)
    with db.transaction(readonly=True) as cur:
        return read_live(db, cur, read_model)


def read_live(db: ReadModelDatabase, cur: Cursor, read_model: str) -> int | None:
    """Return the live generation within a transaction."""
    cur.execute(
        f"SELECT live FROM {db.table('generations')} WHERE read_model = ?",  # noqa: S608
        (read_model,),
    )
    row = cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def read_live_position(db: ReadModelDatabase, cur: Cursor, read_model: str) -> tuple[int, int]:
    """Return (live generation, its position) within a transaction; (0, 0) before any."""
    cur.execute(
        f"SELECT g.live, t.position FROM {db.table('generations')} g "  # noqa: S608
        f"JOIN {db.table('tracking')} t ON t.read_model = g.read_model AND t.generation = g.live "
        "WHERE g.read_model = ?",
        (read_model,),
    )
    row = cur.fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def tracked_position(db: ReadModelDatabase, cur: Cursor, read_model: str, generation: int) -> int:
    """Return a generation's position within a transaction, or raise UnknownGenerationError."""
    return int(_tracking(db, cur, read_model, generation, "position"))


def _tracking(
    db: ReadModelDatabase, cur: Cursor, read_model: str, generation: int, column: str
) -> Any:
    """A column of a generation's tracking row, or raise UnknownGenerationError."""
    cur.execute(
        f"SELECT {column} FROM {db.table('tracking')} WHERE read_model = ? AND generation = ?",  # noqa: S608
        (read_model, generation),
    )
    row = cur.fetchone()
    if row is None:
        raise UnknownGenerationError(f"{read_model} has no generation {generation}")
    return row[0]


def create_generation(db: ReadModelDatabase, read_model: str, *, bulk: bool = False) -> int:
    """Create a new, empty generation of a read model beside the live one; return its number.

    A generation created in `bulk` is fed without what is cheaper to derive once at the
    end (the cubes of `totals`, the indexes only readers use) until `settle` derives it.
    """
    model = registered(read_model)
    with db.transaction() as cur:
        db.lock(cur)
        return _create_generation(db, cur, model, bulk=bulk)


def _create_generation(
    db: ReadModelDatabase, cur: Cursor, model: ReadModel, *, bulk: bool = False
) -> int:
    # Numbers only grow: a dropped generation's number is never handed out again.
    generations_table = db.table("generations")
    cur.execute(
        f"INSERT INTO {generations_table} (read_model, live, highest) VALUES (?, NULL, 0) "  # noqa: S608
        "ON CONFLICT (read_model) DO NOTHING",
        (model.name,),
    )
    cur.execute(
        f"UPDATE {generations_table} SET highest = highest + 1 WHERE read_model = ?",  # noqa: S608
        (model.name,),
    )
    cur.execute(
        f"SELECT highest FROM {generations_table} WHERE read_model = ?",  # noqa: S608
        (model.name,),
    )
    row = cur.fetchone()
    if row is None:
        raise UnknownGenerationError(f"{model.name} has no generations row")
    generation = int(row[0])
    for statement in model.layout.ddl(db, generation, bulk):
        cur.execute(statement)
    if not bulk:
        for statement in model.layout.deferred(db, generation):
            cur.execute(statement)
    cur.execute(
        f"INSERT INTO {db.table('tracking')} "  # noqa: S608
        "(read_model, generation, position, event_at, updated_at, bulk) "
        "VALUES (?, ?, 0, NULL, CURRENT_TIMESTAMP, ?)",
        (model.name, generation, int(bulk)),
    )
    return generation


def settle(db: ReadModelDatabase, read_model: str, generation: int) -> bool:
    """End the bulk feeding of a generation; return False if it was not fed in bulk.

    In one transaction that holds the generation's tracking row (a page in flight waits,
    then applies in the normal way): the cubes of `totals` are recomputed from the facts,
    so they are exact at the tracked position, the projects' figures are summed, and the
    deferred indexes are built.
    """
    return bool(settle_all(db, {read_model: generation}))


def settle_all(db: ReadModelDatabase, generations: Mapping[str, int]) -> list[str]:
    """Settle generations of several read models at once; return those fed in bulk."""
    targets = [(registered(name), generation) for name, generation in generations.items()]
    with db.transaction() as cur:
        return _settle(db, cur, targets)


def _settle(
    db: ReadModelDatabase, cur: Cursor, targets: Sequence[tuple[ReadModel, int]]
) -> list[str]:
    settled: list[tuple[ReadModel, int]] = []
    for model, generation in targets:
        cur.execute(
            f"UPDATE {db.table('tracking')} SET bulk = 0, updated_at = CURRENT_TIMESTAMP "  # noqa: S608
            "WHERE read_model = ? AND generation = ? AND bulk = 1",
            (model.name, generation),
        )
        if cur.rowcount == 1:
            settled.append((model, generation))
        else:
            tracked_position(db, cur, model.name, generation)  # raises for an unknown one
    tasks = [
        task for model, generation in settled for task in model.layout.settling(db, generation)
    ]
    if db.dialect is Dialect.SQLITE:
        for task in tasks:
            for statement in task:
                cur.execute(statement)
    elif tasks:
        # Each task in a transaction of its own, in parallel, all committed before this
        # one: pages wait on the tracking rows it holds meanwhile, and a settle that fails
        # half-way is done again whole (every task can be run again). The longest first.
        tasks.sort(key=len, reverse=True)
        with ThreadPoolExecutor(SETTLE_WORKERS, thread_name_prefix="settle") as workers:
            for done in [workers.submit(_run_task, db, task) for task in tasks]:
                done.result()
    for model, generation in settled:
        for table in model.layout.scratch:
            cur.execute(f"DROP TABLE {db.table(generation_table(table, generation))}")
    return [model.name for model, _ in settled]


def _run_task(db: ReadModelDatabase, statements: list[str]) -> None:
    with db.transaction() as cur:
        # Sort for the indexes and hash the groups of the cubes in memory, not on disk.
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cur.execute("SET LOCAL work_mem = '256MB'")
        for statement in statements:
            cur.execute(statement)


def is_bulk(db: ReadModelDatabase, cur: Cursor, read_model: str, generation: int) -> bool:
    """Whether a generation is still fed in bulk (within a transaction)."""
    return bool(_tracking(db, cur, read_model, generation, "bulk"))


def tables_of(
    db: ReadModelDatabase, cur: Cursor, read_model: str, generation: int
) -> frozenset[str]:
    """Return the layout tables a generation has (fewer when built by an older layout)."""
    found = db.tables_found.get((read_model, generation))
    if found is None:
        names = {generation_table(t, generation): t for t in registered(read_model).layout.tables}
        found = frozenset(names[n] for n in db.existing_tables(cur, list(names)))
        if found:
            db.tables_found[(read_model, generation)] = found
    return found


def is_outdated(db: ReadModelDatabase, read_model: str, generation: int) -> bool:
    """Whether a generation lacks tables of the current layout (it needs a rebuild)."""
    with db.transaction(readonly=True) as cur:
        return tables_of(db, cur, read_model, generation) != set(
            registered(read_model).layout.tables
        )


def add_missing_indexes(db: ReadModelDatabase, read_model: str, generation: int) -> None:
    """Give a settled generation the read indexes its layout gained after it was built.

    Each statement creates its index only if missing; run once per process and generation.
    """
    key = (read_model, generation)
    if key in db.indexes_checked:
        return
    with db.transaction() as cur:
        if not is_bulk(db, cur, read_model, generation):
            for statement in registered(read_model).layout.deferred(db, generation):
                cur.execute(statement)
    db.indexes_checked.add(key)


def ensure_live_generation(db: ReadModelDatabase, read_model: str) -> int:
    """Return the live generation, creating an empty first one if the read model has none."""
    model = registered(read_model)
    with db.transaction(readonly=True) as cur:
        live = read_live(db, cur, read_model)
    if live is not None:
        return live
    with db.transaction() as cur:
        db.lock(cur)
        live = read_live(db, cur, read_model)
        if live is None:
            live = _create_generation(db, cur, model)
            _swap(db, cur, model, live)
        return live


def swap(
    db: ReadModelDatabase,
    read_model: str,
    generation: int,
    guard: Callable[[Cursor, str, int, int], None] | None = None,
) -> None:
    """Make a generation live in one transaction; drop the one it replaces.

    A generation still fed in bulk is settled first, in the same transaction. A `guard` (a
    rebuild's lock check, `leadership.py`) runs last, before the commit, as an empty page.
    """
    model = registered(read_model)
    with db.transaction() as cur:
        db.lock(cur)
        _settle(db, cur, [(model, generation)])
        _swap(db, cur, model, generation)
        if guard is not None:
            position = tracked_position(db, cur, model.name, generation)
            guard(cur, model.name, position + 1, position)


def _swap(db: ReadModelDatabase, cur: Cursor, model: ReadModel, generation: int) -> None:
    previous = read_live(db, cur, model.name)
    if previous is not None:
        # Fresh statistics, so that the first dashboard queries get good plans.
        for table in model.layout.tables:
            cur.execute(f"ANALYZE {db.table(generation_table(table, generation))}")
    cur.execute(
        f"UPDATE {db.table('generations')} SET live = ? WHERE read_model = ?",  # noqa: S608
        (generation, model.name),
    )
    for view in model.layout.views:
        cur.execute(f"DROP VIEW IF EXISTS {db.table(view)}")
        cur.execute(
            f"CREATE VIEW {db.table(view)} AS "  # noqa: S608
            f"SELECT * FROM {db.table(generation_table(view, generation))}"
        )
    if model.name == PROJECTS:
        view = db.table(ENVELOPES_VIEW)
        for statement in envelope_view(view, lambda t: db.table(generation_table(t, generation))):
            cur.execute(statement)
    if previous is not None and previous != generation:
        _drop_tables(db, cur, model, previous)


def optimize_generation(db: ReadModelDatabase, read_model: str, generation: int) -> None:
    """Prepare a rebuilt generation for reads, before its swap (may take seconds).

    PostgreSQL: the layout's `cluster` table is rewritten in its index's order (the facts
    of `totals` in département order) and every table is analysed.
    """
    model = registered(read_model)
    tracked = [g for g in generations(db) if g.read_model == model.name]
    if not any(g.generation == generation for g in tracked):
        raise UnknownGenerationError(f"{read_model} has no generation {generation}")
    with db.transaction() as cur:
        if db.dialect is Dialect.POSTGRES and model.layout.cluster is not None:
            table, column = model.layout.cluster
            clustered = generation_table(table, generation)
            cur.execute(f"CLUSTER {db.table(clustered)} USING {clustered}_{column}")
        for table in model.layout.tables:
            cur.execute(f"ANALYZE {db.table(generation_table(table, generation))}")


def drop_generation(db: ReadModelDatabase, read_model: str, generation: int) -> None:
    """Drop a generation that is not live (an abandoned rebuild)."""
    model = registered(read_model)
    with db.transaction() as cur:
        db.lock(cur)
        if read_live(db, cur, read_model) == generation:
            raise ValueError(f"generation {generation} of {read_model} is live")
        tracked_position(db, cur, read_model, generation)
        _drop_tables(db, cur, model, generation)


def _drop_tables(db: ReadModelDatabase, cur: Cursor, model: ReadModel, generation: int) -> None:
    for table in (*model.layout.tables, *model.layout.scratch):
        cur.execute(f"DROP TABLE IF EXISTS {db.table(generation_table(table, generation))}")
    cur.execute(
        f"DELETE FROM {db.table('tracking')} WHERE read_model = ? AND generation = ?",  # noqa: S608
        (model.name, generation),
    )


@dataclass(frozen=True, slots=True)
class GenerationStatus:
    """One generation of a read model: its position and whether dashboards read it."""

    read_model: str
    generation: int
    position: int
    live: bool
    event_at: str | None
    updated_at: object


def generations(db: ReadModelDatabase) -> list[GenerationStatus]:
    """Return every generation of every read model (live and being rebuilt)."""
    with db.transaction(readonly=True) as cur:
        cur.execute(
            "SELECT t.read_model, t.generation, t.position, g.live, t.event_at, t.updated_at "  # noqa: S608
            f"FROM {db.table('tracking')} t LEFT JOIN {db.table('generations')} g "
            "ON g.read_model = t.read_model ORDER BY t.read_model, t.generation"
        )
        return [
            GenerationStatus(str(name), int(gen), int(pos), live == gen, event_at, updated_at)
            for name, gen, pos, live, event_at, updated_at in cur.fetchall()
        ]
