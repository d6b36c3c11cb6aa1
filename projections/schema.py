"""Read-model tables by generation, the stable views over the live one, and blue/green swaps.

Each read model's tables carry a generation suffix (`facts_g3`). A rebuild creates a new
generation beside the live one, catches it up, then `swap` makes it live in one transaction:
the `generations` row moves, the plain-named views (`facts`, `projects`…) are recreated over
it and the previous generation's tables are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from projections.db import Cursor, Dialect, ReadModelDatabase

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
CUBE_MONTH_KEY = (*CUBE_YEAR_KEY, "quarter", "month")
# Région-level roll-ups (no département, no band): national and régional queries read
# ten times fewer rows from them.
CUBE_REGION_YEAR_KEY = tuple(k for k in CUBE_YEAR_KEY if k not in ("departement", "band"))
CUBE_REGION_MONTH_KEY = (*CUBE_REGION_YEAR_KEY, "quarter", "month")
# Each cube: its table and its key, in the order its rows are written.
CUBES: dict[str, tuple[str, ...]] = {
    "cube_year": CUBE_YEAR_KEY,
    "cube_month": CUBE_MONTH_KEY,
    "cube_region_year": CUBE_REGION_YEAR_KEY,
    "cube_region_month": CUBE_REGION_MONTH_KEY,
}
KEY_TYPES = {"costed": "INTEGER", "year": "INTEGER"}
COMMITMENT_COLUMNS = ("commitment_id", "project_id", "instrument", "committed_on", "amount")
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


class UnknownGenerationError(LookupError):
    """No such generation of this read model (never created, or dropped by a swap)."""


@dataclass(frozen=True, slots=True)
class ReadModelLayout:
    """A read model's tables (created per generation) and the views BI tools read."""

    name: str
    tables: tuple[str, ...]
    views: tuple[str, ...]
    ddl: Callable[[ReadModelDatabase, int], list[str]]


def generation_table(name: str, generation: int) -> str:
    """Return the unqualified name of a table of a generation."""
    return f"{name}_g{generation}"


def _index(db: ReadModelDatabase, table: str, columns: Sequence[str]) -> str:
    # PostgreSQL puts an index in its table's schema; SQLite needs the prefix on its name.
    name = f"{table}_{'_'.join(columns)}"
    if db.dialect is Dialect.SQLITE:
        name = db.table(name)
    return f"CREATE INDEX {name} ON {db.table(table)} ({', '.join(columns)})"


def _totals_ddl(db: ReadModelDatabase, generation: int) -> list[str]:
    def t(name: str) -> str:
        return db.table(generation_table(name, generation))

    def index(table: str, *columns: str) -> str:
        return _index(db, generation_table(table, generation), columns)

    dims = ", ".join(f"{d} TEXT NOT NULL" for d in PROJECT_DIMENSIONS if d != "costed")
    measures = ", ".join(f"{m} BIGINT NOT NULL" for m in MEASURES)

    def cube(name: str, key: tuple[str, ...]) -> str:
        columns = ", ".join(f"{k} {KEY_TYPES.get(k, 'TEXT')} NOT NULL" for k in key)
        return f"CREATE TABLE {t(name)} ({columns}, {measures}, PRIMARY KEY ({', '.join(key)}))"

    return [
        f"CREATE TABLE {t('facts')} ("
        "position BIGINT PRIMARY KEY, project_id TEXT NOT NULL, commitment_id TEXT, "
        "kind TEXT NOT NULL, instrument TEXT NOT NULL, "
        f"day {db.date_type} NOT NULL, year INTEGER NOT NULL, quarter TEXT NOT NULL, "
        f"month TEXT NOT NULL, {dims}, costed INTEGER NOT NULL, {measures})",
        *(
            index("facts", column)
            for column in ("project_id", "region", "departement", "epci", "commune", "day")
        ),
        *(cube(name, key) for name, key in CUBES.items()),
        *_commitments_ddl(t("totals_commitments")),
    ]


def _commitments_ddl(table: str) -> list[str]:
    return [
        f"CREATE TABLE {table} (commitment_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, "
        "instrument TEXT NOT NULL, committed_on TEXT NOT NULL, amount BIGINT NOT NULL)"
    ]


def _projects_ddl(db: ReadModelDatabase, generation: int) -> list[str]:
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
        index("projects", "name", "project_id"),
        *(
            index("projects", column)
            for column in ("region", "departement", "epci", "commune", "directorate")
        ),
        f"CREATE TABLE {t('project_conventions')} (project_id TEXT NOT NULL, "
        "convention_id TEXT NOT NULL, position BIGINT NOT NULL, "
        "PRIMARY KEY (project_id, convention_id))",
        index("project_conventions", "convention_id"),
        f"CREATE TABLE {t('conventions')} (convention_id TEXT PRIMARY KEY, title TEXT NOT NULL, "
        "directorate TEXT NOT NULL, signatories TEXT NOT NULL, themes TEXT NOT NULL, "
        f"signed_on {db.date_type} NOT NULL, ends_on {db.date_type}, envelope BIGINT, "
        f"ended_on {db.date_type}, version INTEGER NOT NULL, position BIGINT NOT NULL)",
        *_commitments_ddl(t("projects_commitments")),
    ]


LAYOUTS: dict[str, ReadModelLayout] = {
    TOTALS: ReadModelLayout(
        TOTALS,
        tables=("facts", *CUBES, "totals_commitments"),
        views=("facts", *CUBES),
        ddl=_totals_ddl,
    ),
    PROJECTS: ReadModelLayout(
        PROJECTS,
        tables=("projects", "project_conventions", "conventions", "projects_commitments"),
        views=("projects", "project_conventions", "conventions"),
        ddl=_projects_ddl,
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
    cur.execute(
        f"SELECT position FROM {db.table('tracking')} WHERE read_model = ? AND generation = ?",  # noqa: S608
        (read_model, generation),
    )
    row = cur.fetchone()
    if row is None:
        raise UnknownGenerationError(f"{read_model} has no generation {generation}")
    return int(row[0])


def create_generation(db: ReadModelDatabase, read_model: str) -> int:
    """Create a new, empty generation of a read model beside the live one; return its number."""
    model = layout(read_model)
    with db.transaction() as cur:
        db.lock(cur)
        return _create_generation(db, cur, model)


def _create_generation(db: ReadModelDatabase, cur: Cursor, model: ReadModelLayout) -> int:
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
    for statement in model.ddl(db, generation):
        cur.execute(statement)
    cur.execute(
        f"INSERT INTO {db.table('tracking')} "  # noqa: S608
        "(read_model, generation, position, event_at, updated_at) "
        "VALUES (?, ?, 0, NULL, CURRENT_TIMESTAMP)",
        (model.name, generation),
    )
    return generation


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
    """Make a generation live in one transaction; drop the one it replaces."""
    model = layout(read_model)
    with db.transaction() as cur:
        db.lock(cur)
        tracked_position(db, cur, read_model, generation)
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
    for table in model.tables:
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
