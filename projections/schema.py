"""Read-model tables by generation, the stable views over the live one, and blue/green swaps.

Each read model's tables carry a generation suffix (`facts_g3`). A rebuild creates a new
generation beside the live one, catches it up, then `swap` makes it live in one transaction:
the `generations` row moves, the plain-named views (`facts`, `projects`…) are recreated over
it and the previous generation's tables are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from projections.db import ReadModelDatabase
from projections.sql import Cursor, Dialect

TOTALS = "totals"
PROJECTS = "projects"
READ_MODELS = (TOTALS, PROJECTS)

# Project-level dimensions denormalised onto every fact (a move rewrites them all).
PROJECT_DIMENSIONS = (
    "region",
    "departement",
    "epci",
    "commune",
    "band",
    "theme",
    "programme",
    "directorate",
    "convention",
    "costed",
)
MEASURES = (
    "committed",
    "cancelled",
    "disbursed",
    "repaid",
    "outstanding",
    "estimated_cost",
    "projects",
    "commitments",
)
FACT_COLUMNS = (
    "position",
    "project_id",
    "commitment_id",
    "kind",
    "instrument",
    "day",
    "year",
    "quarter",
    "month",
    *PROJECT_DIMENSIONS,
    *MEASURES,
)
# The facts' PostgreSQL types, for a binary COPY.
FACT_TYPES = tuple(
    "int8"
    if column in ("position", *MEASURES)
    else "int4"
    if column in ("year", "costed")
    else "date"
    if column == "day"
    else "text"
    for column in FACT_COLUMNS
)
CUBE_YEAR_KEY = (
    "region",
    "departement",
    "band",
    "theme",
    "programme",
    "directorate",
    "costed",
    "instrument",
    "year",
)
# Région-level roll-ups (no département, no band): national and régional queries read
# ten times fewer rows from them.
CUBE_REGION_YEAR_KEY = tuple(k for k in CUBE_YEAR_KEY if k not in ("departement", "band"))
CUBE_REGION_MONTH_KEY = (*CUBE_REGION_YEAR_KEY, "quarter", "month")
# Territorial roll-ups (région, département, costed, instrument, period): queries by
# territory and instrument read thirty times fewer rows from them than from `cube_year`.
CUBE_DEPARTEMENT_YEAR_KEY = ("region", "departement", "costed", "instrument", "year")
CUBE_DEPARTEMENT_MONTH_KEY = (*CUBE_DEPARTEMENT_YEAR_KEY, "quarter", "month")
# Each cube: its table and its key, in the order its rows are written.
CUBES: dict[str, tuple[str, ...]] = {
    "cube_year": CUBE_YEAR_KEY,
    "cube_region_year": CUBE_REGION_YEAR_KEY,
    "cube_region_month": CUBE_REGION_MONTH_KEY,
    "cube_departement_year": CUBE_DEPARTEMENT_YEAR_KEY,
    "cube_departement_month": CUBE_DEPARTEMENT_MONTH_KEY,
}
# The cubes from the smallest to the largest (rows at 1M events: 6k, 55k, 66k, 190k,
# 380k): a query reads the first whose key has every column it needs. There is no monthly
# companion of `cube_year`: it would hold 70% as many rows as the facts, which answer
# its questions nearly as fast.
CUBES_BY_SIZE = (
    "cube_departement_year",
    "cube_region_year",
    "cube_departement_month",
    "cube_year",
    "cube_region_month",
)
if sorted(CUBES_BY_SIZE) != sorted(CUBES):
    raise RuntimeError("CUBES_BY_SIZE must list every cube once")
KEY_TYPES = {"costed": "INTEGER", "year": "INTEGER"}
COMMITMENT_COLUMNS = ("commitment_id", "project_id", "instrument", "committed_on", "amount")
COMMITMENT_TYPES = ("text", "text", "text", "text", "int8")
PROJECT_COLUMNS = (
    "project_id",
    "name",
    "search",
    "territory",
    "level",
    "region",
    "departement",
    "epci",
    "commune",
    "band",
    "theme",
    "programme",
    "directorate",
    "status",
    "identified_on",
    "closed_on",
    "reference",
    "estimated_cost",
    "version",
    "position",
    "committed",
    "cancelled",
    "disbursed",
    "repaid",
    "outstanding",
    "commitments",
    "updated_position",
)
CONVENTION_COLUMNS = (
    "convention_id",
    "title",
    "directorate",
    "signatories",
    "themes",
    "signed_on",
    "ends_on",
    "envelope",
    "ended_on",
    "version",
    "position",
)


# Tasks of a settle run at once on PostgreSQL (connections of the read models' pool).
SETTLE_WORKERS = 2


class UnknownGenerationError(LookupError):
    """No such generation of this read model (never created, or dropped by a swap)."""


@dataclass(frozen=True, slots=True)
class ReadModelLayout:
    """A read model's tables (created per generation) and the views BI tools read."""

    name: str
    tables: tuple[str, ...]
    views: tuple[str, ...]
    # The tables of a generation, as fed page by page or (bulk) as `settle` completes them.
    ddl: Callable[[ReadModelDatabase, int, bool], list[str]]
    # Indexes no page needs: a generation fed in bulk gets them as it settles.
    deferred: Callable[[ReadModelDatabase, int], list[str]]
    # What settling a bulk generation runs: lists of statements, each list in a transaction
    # of its own (in parallel on PostgreSQL), each list safe to run again.
    settling: Callable[[ReadModelDatabase, int], list[list[str]]]
    # Tables only a generation fed in bulk has, dropped as it settles.
    scratch: tuple[str, ...] = ()


def generation_table(name: str, generation: int) -> str:
    """Return the unqualified name of a table of a generation."""
    return f"{name}_g{generation}"


def _index(db: ReadModelDatabase, table: str, columns: Sequence[str]) -> str:
    # PostgreSQL puts an index in its table's schema; SQLite needs the prefix on its name.
    name = f"{table}_{'_'.join(columns)}"
    if db.dialect is Dialect.SQLITE:
        name = db.table(name)
    return f"CREATE INDEX IF NOT EXISTS {name} ON {db.table(table)} ({', '.join(columns)})"


# The facts' indexes for readers only (the pages find facts by project).
FACT_READ_INDEXES = ("region", "departement", "epci", "commune", "day")


def _totals_ddl(db: ReadModelDatabase, generation: int, bulk: bool) -> list[str]:
    def t(name: str) -> str:
        return db.table(generation_table(name, generation))

    def index(table: str, *columns: str) -> str:
        return _index(db, generation_table(table, generation), columns)

    dims = ", ".join(f"{d} TEXT NOT NULL" for d in PROJECT_DIMENSIONS if d != "costed")
    measures = ", ".join(f"{m} BIGINT NOT NULL" for m in MEASURES)

    def cube(name: str, key: tuple[str, ...]) -> str:
        columns = ", ".join(f"{k} {KEY_TYPES.get(k, 'TEXT')} NOT NULL" for k in key)
        if bulk and db.dialect is Dialect.POSTGRES:
            # Built once from the rows as the generation settles (see `cube_statements`):
            # far cheaper than inserting the rows one by one into it.
            return f"CREATE TABLE {t(name)} ({columns}, {measures})"
        return f"CREATE TABLE {t(name)} ({columns}, {measures}, PRIMARY KEY ({', '.join(key)}))"

    return [
        f"CREATE TABLE {t('facts')} ("
        "position BIGINT PRIMARY KEY, project_id TEXT NOT NULL, commitment_id TEXT, "
        "kind TEXT NOT NULL, instrument TEXT NOT NULL, "
        f"day {db.date_type} NOT NULL, year INTEGER NOT NULL, quarter TEXT NOT NULL, "
        f"month TEXT NOT NULL, {dims}, costed INTEGER NOT NULL, {measures})",
        index("facts", "project_id"),
        *(cube(name, key) for name, key in CUBES.items()),
        *_commitments_ddl(t("totals_commitments")),
        *(
            [
                # Each project's dimensions, as its facts carry them (bulk pages look here).
                f"CREATE TABLE {t('totals_projects')} (project_id TEXT PRIMARY KEY, {dims}, "
                "costed INTEGER NOT NULL, estimated_cost BIGINT NOT NULL)"
            ]
            if bulk
            else []
        ),
    ]


def _totals_deferred(db: ReadModelDatabase, generation: int) -> list[str]:
    facts = generation_table("facts", generation)
    return [_index(db, facts, (column,)) for column in FACT_READ_INDEXES]


def _totals_settling(db: ReadModelDatabase, generation: int) -> list[list[str]]:
    # The longest first: the cubes, then one index each.
    return [
        *cube_statements(db, generation),
        *([index] for index in _totals_deferred(db, generation)),
    ]


def _commitments_ddl(table: str) -> list[str]:
    return [
        f"CREATE TABLE {table} (commitment_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, "
        "instrument TEXT NOT NULL, committed_on TEXT NOT NULL, amount BIGINT NOT NULL)"
    ]


def _projects_ddl(db: ReadModelDatabase, generation: int, bulk: bool) -> list[str]:
    def t(name: str) -> str:
        return db.table(generation_table(name, generation))

    def index(table: str, *columns: str) -> str:
        return _index(db, generation_table(table, generation), columns)

    return [
        f"CREATE TABLE {t('projects')} ("
        "project_id TEXT PRIMARY KEY, name TEXT NOT NULL, search TEXT NOT NULL, "
        "territory TEXT NOT NULL, "
        "level TEXT NOT NULL, region TEXT NOT NULL, departement TEXT NOT NULL, "
        "epci TEXT NOT NULL, commune TEXT NOT NULL, band TEXT NOT NULL, theme TEXT NOT NULL, "
        "programme TEXT NOT NULL, directorate TEXT NOT NULL, status TEXT NOT NULL, "
        f"identified_on {db.date_type} NOT NULL, closed_on {db.date_type}, reference TEXT, "
        "estimated_cost BIGINT, version INTEGER NOT NULL, position BIGINT NOT NULL, "
        "committed BIGINT NOT NULL, cancelled BIGINT NOT NULL, disbursed BIGINT NOT NULL, "
        "repaid BIGINT NOT NULL, outstanding BIGINT NOT NULL, commitments INTEGER NOT NULL, "
        "updated_position BIGINT NOT NULL)",
        f"CREATE TABLE {t('project_conventions')} (project_id TEXT NOT NULL, "
        "convention_id TEXT NOT NULL, position BIGINT NOT NULL, "
        "PRIMARY KEY (project_id, convention_id))",
        f"CREATE TABLE {t('conventions')} (convention_id TEXT PRIMARY KEY, title TEXT NOT NULL, "
        "directorate TEXT NOT NULL, signatories TEXT NOT NULL, themes TEXT NOT NULL, "
        f"signed_on {db.date_type} NOT NULL, ends_on {db.date_type}, envelope BIGINT, "
        f"ended_on {db.date_type}, version INTEGER NOT NULL, position BIGINT NOT NULL)",
        *_commitments_ddl(t("projects_commitments")),
        *(
            [
                # One row per event of a project but its identification: what it moved.
                f"CREATE TABLE {t('project_moves')} (project_id TEXT NOT NULL, "
                "commitment_id TEXT, version INTEGER NOT NULL, position BIGINT NOT NULL, "
                "cancelled BIGINT NOT NULL, disbursed BIGINT NOT NULL, repaid BIGINT NOT NULL)"
            ]
            if bulk
            else []
        ),
    ]


def _projects_deferred(db: ReadModelDatabase, generation: int) -> list[str]:
    def index(table: str, *columns: str) -> str:
        return _index(db, generation_table(table, generation), columns)

    return [
        index("projects", "name", "project_id"),
        *(
            index("projects", column)
            for column in ("region", "departement", "epci", "commune", "directorate")
        ),
        index("project_conventions", "convention_id"),
    ]


def _projects_settling(db: ReadModelDatabase, generation: int) -> list[list[str]]:
    """Set each project's figures from its commitments and its moves, then index."""

    def t(name: str) -> str:
        return db.table(generation_table(name, generation))

    latest = "GREATEST" if db.dialect is Dialect.POSTGRES else "MAX"
    figures = (
        f"UPDATE {t('projects')} AS p SET committed = f.committed, "  # noqa: S608
        "commitments = f.commitments, cancelled = f.cancelled, disbursed = f.disbursed, "
        "repaid = f.repaid, outstanding = f.outstanding, "
        f"version = {latest}(p.version, f.version), "
        f"updated_position = {latest}(p.updated_position, f.position) "
        "FROM (SELECT project_id, SUM(committed) AS committed, "
        "SUM(commitments) AS commitments, SUM(cancelled) AS cancelled, "
        "SUM(disbursed) AS disbursed, SUM(repaid) AS repaid, "
        "SUM(outstanding) AS outstanding, MAX(version) AS version, "
        "MAX(position) AS position FROM ("
        "SELECT project_id, amount AS committed, 1 AS commitments, 0 AS cancelled, "
        "0 AS disbursed, 0 AS repaid, 0 AS outstanding, 0 AS version, 0 AS position "
        f"FROM {t('projects_commitments')} "
        "UNION ALL SELECT m.project_id, 0, 0, m.cancelled, m.disbursed, m.repaid, "
        "CASE WHEN c.instrument = 'loan' THEN m.disbursed ELSE 0 END - m.repaid, "
        f"m.version, m.position FROM {t('project_moves')} AS m "
        f"LEFT JOIN {t('projects_commitments')} AS c ON c.commitment_id = m.commitment_id"
        ") AS moved GROUP BY project_id) AS f WHERE p.project_id = f.project_id"
    )
    projects_indexes, links_index = (
        _projects_deferred(db, generation)[:-1],
        _projects_deferred(db, generation)[-1],
    )
    return [[figures, *projects_indexes], [links_index]]


LAYOUTS: dict[str, ReadModelLayout] = {
    TOTALS: ReadModelLayout(
        TOTALS,
        tables=("facts", *CUBES, "totals_commitments"),
        views=("facts", *CUBES),
        ddl=_totals_ddl,
        deferred=_totals_deferred,
        settling=_totals_settling,
        scratch=("totals_projects",),
    ),
    PROJECTS: ReadModelLayout(
        PROJECTS,
        tables=("projects", "project_conventions", "conventions", "projects_commitments"),
        views=("projects", "project_conventions", "conventions"),
        ddl=_projects_ddl,
        deferred=_projects_deferred,
        settling=_projects_settling,
        scratch=("project_moves",),
    ),
}


def layout(read_model: str) -> ReadModelLayout:
    """Return a read model's layout, or raise ValueError for an unknown name."""
    try:
        return LAYOUTS[read_model]
    except KeyError:
        raise ValueError(
            f"unknown read model {read_model!r}: expected one of {', '.join(READ_MODELS)}"
        ) from None


# Generations ----------------------------------------------------------------------------------


def live_generation(db: ReadModelDatabase, read_model: str) -> int | None:
    """Return the generation dashboards read, or None before the first one."""
    layout(read_model)
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
    model = layout(read_model)
    with db.transaction() as cur:
        db.lock(cur)
        return _create_generation(db, cur, model, bulk=bulk)


def _create_generation(
    db: ReadModelDatabase, cur: Cursor, model: ReadModelLayout, *, bulk: bool = False
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
    for statement in model.ddl(db, generation, bulk):
        cur.execute(statement)
    if not bulk:
        for statement in model.deferred(db, generation):
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
    targets = [(layout(name), generation) for name, generation in generations.items()]
    with db.transaction() as cur:
        return _settle(db, cur, targets)


def _settle(
    db: ReadModelDatabase, cur: Cursor, targets: Sequence[tuple[ReadModelLayout, int]]
) -> list[str]:
    settled: list[tuple[ReadModelLayout, int]] = []
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
    tasks = [task for model, generation in settled for task in model.settling(db, generation)]
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
        for table in model.scratch:
            cur.execute(f"DROP TABLE {db.table(generation_table(table, generation))}")
    return [model.name for model, _ in settled]


def _run_task(db: ReadModelDatabase, statements: list[str]) -> None:
    with db.transaction() as cur:
        # Sort for the indexes and hash the groups of the cubes in memory, not on disk.
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cur.execute("SET LOCAL work_mem = '256MB'")
        for statement in statements:
            cur.execute(statement)


def cube_statements(db: ReadModelDatabase, generation: int) -> list[list[str]]:
    """Return the statements that sum every cube of a `totals` generation from its facts.

    Lists that each run in a transaction of their own: a monthly cube summed from the
    facts, then its yearly companion from it (far fewer rows than the facts); a cube with
    no monthly companion is summed from the facts. Groups whose sums are all zero get no
    row, as when the cubes are fed page by page. On PostgreSQL the primary key is dropped
    first and built again last (a sort, cheaper than row by row).
    """
    measures = ", ".join(MEASURES)
    sums = ", ".join(f"SUM({m})" for m in MEASURES)
    nonzero = " OR ".join(f"SUM({m}) <> 0" for m in MEASURES)
    periods = {"quarter", "month"}
    chains: dict[str, list[str]] = {}
    for cube, key in sorted(CUBES.items(), key=lambda item: -len(item[1])):
        # A yearly cube is summed from the monthly cube with the same other columns.
        source = next(
            (
                monthly
                for monthly, monthly_key in CUBES.items()
                if set(monthly_key) - set(key) == periods and set(key) <= set(monthly_key)
            ),
            "facts",
        )
        table = generation_table(cube, generation)
        keys = ", ".join(key)
        statements = chains.setdefault(cube if source == "facts" else source, [])
        if db.dialect is Dialect.POSTGRES:
            statements.append(
                f"ALTER TABLE {db.table(table)} DROP CONSTRAINT IF EXISTS {table}_pkey"
            )
        statements += [
            f"DELETE FROM {db.table(table)}",  # noqa: S608
            f"INSERT INTO {db.table(table)} ({keys}, {measures}) "  # noqa: S608
            f"SELECT {keys}, {sums} FROM {db.table(generation_table(source, generation))} "
            # Stored in key order: a région's or a département's rows share a few pages.
            f"GROUP BY {keys} HAVING {nonzero} ORDER BY {keys}",
        ]
        if db.dialect is Dialect.POSTGRES:
            statements.append(f"ALTER TABLE {db.table(table)} ADD PRIMARY KEY ({keys})")
    return list(chains.values())


def is_bulk(db: ReadModelDatabase, cur: Cursor, read_model: str, generation: int) -> bool:
    """Whether a generation is still fed in bulk (within a transaction)."""
    return bool(_tracking(db, cur, read_model, generation, "bulk"))


def tables_of(
    db: ReadModelDatabase, cur: Cursor, read_model: str, generation: int
) -> frozenset[str]:
    """Return the layout tables a generation has (fewer when built by an older layout)."""
    found = db.tables_found.get((read_model, generation))
    if found is None:
        names = {generation_table(t, generation): t for t in layout(read_model).tables}
        found = frozenset(names[n] for n in db.existing_tables(cur, list(names)))
        if found:
            db.tables_found[(read_model, generation)] = found
    return found


def is_outdated(db: ReadModelDatabase, read_model: str, generation: int) -> bool:
    """Whether a generation lacks tables of the current layout (it needs a rebuild)."""
    with db.transaction(readonly=True) as cur:
        return tables_of(db, cur, read_model, generation) != set(layout(read_model).tables)


def ensure_live_generation(db: ReadModelDatabase, read_model: str) -> int:
    """Return the live generation, creating an empty first one if the read model has none."""
    model = layout(read_model)
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


def swap(db: ReadModelDatabase, read_model: str, generation: int) -> None:
    """Make a generation live in one transaction; drop the one it replaces.

    A generation still fed in bulk is settled first, in the same transaction.
    """
    model = layout(read_model)
    with db.transaction() as cur:
        db.lock(cur)
        _settle(db, cur, [(model, generation)])
        _swap(db, cur, model, generation)


def _swap(db: ReadModelDatabase, cur: Cursor, model: ReadModelLayout, generation: int) -> None:
    previous = read_live(db, cur, model.name)
    if previous is not None:
        # Fresh statistics, so that the first dashboard queries get good plans.
        for table in model.tables:
            cur.execute(f"ANALYZE {db.table(generation_table(table, generation))}")
    cur.execute(
        f"UPDATE {db.table('generations')} SET live = ? WHERE read_model = ?",  # noqa: S608
        (generation, model.name),
    )
    for view in model.views:
        cur.execute(f"DROP VIEW IF EXISTS {db.table(view)}")
        cur.execute(
            f"CREATE VIEW {db.table(view)} AS "  # noqa: S608
            f"SELECT * FROM {db.table(generation_table(view, generation))}"
        )
    if previous is not None and previous != generation:
        _drop_tables(db, cur, model, previous)


def optimize_generation(db: ReadModelDatabase, read_model: str, generation: int) -> None:
    """Prepare a rebuilt generation for reads, before its swap (may take seconds).

    PostgreSQL: the facts are rewritten in département order (a département's drill-down
    then reads a few pages instead of one page per fact) and every table is analysed.
    """
    model = layout(read_model)
    tracked = [g for g in generations(db) if g.read_model == model.name]
    if not any(g.generation == generation for g in tracked):
        raise UnknownGenerationError(f"{read_model} has no generation {generation}")
    with db.transaction() as cur:
        if db.dialect is Dialect.POSTGRES and "facts" in model.tables:
            facts = generation_table("facts", generation)
            cur.execute(f"CLUSTER {db.table(facts)} USING {facts}_departement")
        for table in model.tables:
            cur.execute(f"ANALYZE {db.table(generation_table(table, generation))}")


def drop_generation(db: ReadModelDatabase, read_model: str, generation: int) -> None:
    """Drop a generation that is not live (an abandoned rebuild)."""
    model = layout(read_model)
    with db.transaction() as cur:
        db.lock(cur)
        if read_live(db, cur, read_model) == generation:
            raise ValueError(f"generation {generation} of {read_model} is live")
        tracked_position(db, cur, read_model, generation)
        _drop_tables(db, cur, model, generation)


def _drop_tables(
    db: ReadModelDatabase, cur: Cursor, model: ReadModelLayout, generation: int
) -> None:
    for table in (*model.tables, *model.scratch):
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
