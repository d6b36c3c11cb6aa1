"""Reads of the `totals` read model: figures by any dimensions, from the smallest table that
answers (a cube whose key has every column the question needs, else the facts).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.errors import InvalidValueError
from domain.reference.territories import TerritoryLevel, load_territories
from projections.db import ReadModelDatabase
from projections.generations import tables_of
from projections.layout import generation_table
from projections.reading import DIMENSIONS, condition, figures, read_snapshot
from projections.registry import TOTALS
from projections.sql import Cursor
from projections.state import NONE
from projections.totals.tables import CUBES, CUBES_BY_SIZE

# The columns of each cube; the facts have every dimension. Every source needs `costed`
# besides what a query groups and filters by: the leverage sums the costed projects.
CUBE_COLUMNS = {cube: frozenset(key) for cube, key in CUBES.items()}
ALWAYS_USED = frozenset({"costed"})

# Sums read from the totals tables, in this order. As BIGINT: PostgreSQL sums BIGINT into
# NUMERIC, which the driver reads as Decimal, far slower (sums of cents stay below 2^63).
SUMS = tuple(
    f"CAST({total} AS BIGINT)"
    for total in (
        "SUM(committed)",
        "SUM(cancelled)",
        "SUM(disbursed)",
        "SUM(repaid)",
        "SUM(outstanding)",
        "SUM(projects)",
        "SUM(commitments)",
        "SUM(estimated_cost)",
        "SUM(CASE WHEN costed = 1 THEN committed - cancelled ELSE 0 END)",
    )
)


class TooManyRowsError(InvalidValueError):
    """A totals question would answer more rows than its limit: it asks to be narrowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            "group_by",
            f"the answer has more than {limit} rows, the limit of a totals answer: ask a "
            "narrower question, with fewer group_by dimensions or a filter such as "
            "territory=region:32, year=2024 or from/to",
        )
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Totals:
    """Figures grouped by dimensions, their grand total, and the log position they reflect."""

    rows: list[dict[str, Any]]
    total: dict[str, Any]
    position: int
    source: str = ""


def totals(
    db: ReadModelDatabase,
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    max_rows: int | None = None,
) -> Totals:
    """Return the figures grouped by dimensions, filtered, between two effective dates.

    Filters: any dimension = value (`region=32` or `region=region:32`; "" selects the null
    key of a nullable dimension) and `territory=<prefixed code>`: that territory and
    everything below it. Dates are inclusive. An answer of more than `max_rows` rows is
    refused (TooManyRowsError) having read only one row more than that from the database.
    """
    if max_rows is not None and (isinstance(max_rows, bool) or max_rows < 1):
        raise InvalidValueError("max_rows", "must be a positive number of rows")
    dims = _group_by(group_by)
    conditions = _with_ancestors(
        [condition(name, value) for name, value in (filters or {}).items()]
    )
    _check_dates(date_from, date_to)
    sources = _sources(
        frozenset(dims).union(column for column, _ in conditions), date_from, date_to
    )
    where = [f"{column} = ?" for column, _ in conditions]
    params = [value for _, value in conditions]
    columns = ", ".join(dims)
    select = f"SELECT {', '.join([*dims, *SUMS])} FROM "  # noqa: S608
    grouped = f" GROUP BY {columns} ORDER BY {columns}" if dims else ""
    # One row past the limit tells the answer is too large without reading it all.
    limit = [max_rows + 1] if dims and max_rows is not None else []
    if limit:
        grouped += " LIMIT ?"

    def query(cur: Cursor, generation: int) -> list[tuple[Any, ...]]:
        # A generation built before some cube existed: the next smallest table answers.
        present = tables_of(db, cur, TOTALS, generation)
        chosen = next((table for table in sources if table in present), "facts")
        where_dates, date_params = _date_conditions(db, chosen, date_from, date_to)
        clauses = [*where, *where_dates]
        cur.execute(
            select
            + db.table(generation_table(chosen, generation))
            + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
            + grouped,
            [*params, *date_params, *limit],
        )
        return cur.fetchall()

    found, at = read_snapshot(db, TOTALS, query)
    if max_rows is not None and found is not None and len(found) > max_rows:
        raise TooManyRowsError(max_rows)
    if not dims:
        # One row, of NULL sums when no row matched.
        sums = [int(v or 0) for v in found[0]] if found else [0] * len(SUMS)
        return Totals([figures(sums)], figures(sums), at, sources[0])
    # Grouped, every sum has a value: its group has rows, whose measures are NOT NULL.
    width = len(dims)
    rows: list[dict[str, Any]] = []
    for record in found or ():
        row = {
            dim: (None if value == NONE else value)
            for dim, value in zip(dims, record, strict=False)
        }
        row.update(figures(record[width:]))
        rows.append(row)
    sums = [sum(column) for column in zip(*(record[width:] for record in found or ()), strict=True)]
    return Totals(rows, figures(sums or [0] * len(SUMS)), at, sources[0])


def check_question(
    group_by: Sequence[str] = (),
    filters: Mapping[str, str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> None:
    """Raise InvalidValueError for a question `totals` would refuse, before any other work."""
    _group_by(group_by)
    for name, value in (filters or {}).items():
        condition(name, value)
    _check_dates(date_from, date_to)


def _group_by(group_by: Sequence[str]) -> list[str]:
    if isinstance(group_by, str):
        raise InvalidValueError("group_by", "must be a list of dimensions")
    dims: list[str] = []
    for dim in group_by:
        if dim not in DIMENSIONS:
            raise InvalidValueError(
                "group_by", f"unknown dimension {dim!r}: expected some of {', '.join(DIMENSIONS)}"
            )
        if dim in dims:
            raise InvalidValueError("group_by", f"dimension {dim!r} is named twice")
        dims.append(dim)
    return dims


def _with_ancestors(conditions: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Add the région (and département) a département or commune filter implies.

    They change no answer, and let the cubes' primary key (région first) serve the query.
    EPCI are left alone: a few span two départements.
    """
    extra: list[tuple[str, object]] = []
    for column, value in conditions:
        if column in ("departement", "commune") and value != NONE:
            territory = load_territories().get(str(value))
            for level in (TerritoryLevel.REGION, TerritoryLevel.DEPARTEMENT):
                code = territory.at_level(level)
                if level.value != column and code is not None:
                    extra.append((level.value, code))
    return [*conditions, *(c for c in extra if c not in conditions)]


def _check_dates(date_from: date | None, date_to: date | None) -> None:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidValueError("from", f"{date_from} comes after to={date_to}")


def _month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _sources(used: frozenset[str], date_from: date | None, date_to: date | None) -> list[str]:
    """Return the tables that answer, the smallest first: the cubes whose key has every
    column the query uses (and the period its dates need), then the facts.
    """
    month_aligned = (date_from is None or date_from.day == 1) and (
        date_to is None or _month_end(date_to)
    )
    if not month_aligned:
        return ["facts"]
    year_aligned = (date_from is None or (date_from.month, date_from.day) == (1, 1)) and (
        date_to is None or (date_to.month, date_to.day) == (12, 31)
    )
    needed = used | ALWAYS_USED if year_aligned else used | ALWAYS_USED | {"month"}
    return [*(cube for cube in CUBES_BY_SIZE if needed <= CUBE_COLUMNS[cube]), "facts"]


def _date_conditions(
    db: ReadModelDatabase, source: str, date_from: date | None, date_to: date | None
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for bound, operator in ((date_from, ">="), (date_to, "<=")):
        if bound is None:
            continue
        if source == "facts":
            where.append(f"day {operator} ?")
            params.append(db.date_param(bound))
        elif source.endswith("month"):
            where.append(f"month {operator} ?")
            params.append(bound.isoformat()[:7])
        else:
            where.append(f"year {operator} ?")
            params.append(bound.year)
    return where, params
