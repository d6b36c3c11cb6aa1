"""The `totals` read model's tables: one fact per money movement, and cubes summing them."""

from __future__ import annotations

from projections.db import ReadModelDatabase
from projections.layout import ReadModelLayout, generation_table, index_statement
from projections.sql import Dialect
from projections.state import commitments_ddl

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


# The facts' indexes for readers only (the pages find facts by project).
FACT_READ_INDEXES = ("region", "departement", "epci", "commune", "day")


def _totals_ddl(db: ReadModelDatabase, generation: int, bulk: bool) -> list[str]:
    def t(name: str) -> str:
        return db.table(generation_table(name, generation))

    def index(table: str, *columns: str) -> str:
        return index_statement(db, generation_table(table, generation), columns)

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
        *commitments_ddl(t("totals_commitments")),
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
    return [index_statement(db, facts, (column,)) for column in FACT_READ_INDEXES]


def _totals_settling(db: ReadModelDatabase, generation: int) -> list[list[str]]:
    # The longest first: the cubes, then one index each.
    return [
        *cube_statements(db, generation),
        *([index] for index in _totals_deferred(db, generation)),
    ]


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


LAYOUT = ReadModelLayout(
    tables=("facts", *CUBES, "totals_commitments"),
    views=("facts", *CUBES),
    ddl=_totals_ddl,
    deferred=_totals_deferred,
    settling=_totals_settling,
    scratch=("totals_projects",),
    # A département's drill-down then reads a few pages instead of one page per fact.
    cluster=("facts", "departement"),
)
