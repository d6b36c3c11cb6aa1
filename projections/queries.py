"""Reads of the read models: totals by any dimensions, project and convention lists.

Every read runs in one snapshot transaction that first looks up the live generation and its
tracking position, then reads that generation's tables (not the views), so a blue/green swap
is atomic for readers and `position` says how fresh the answer is.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar
from uuid import UUID

from domain.errors import InvalidValueError, NotFoundError, UnknownCodeError
from domain.reference import DIRECTORATES, PROGRAMMES, THEMES, Instrument
from domain.reference.territories import Band, TerritoryLevel, load_territories
from domain.values import EARLIEST_DATE, LATEST_DATE, ProjectStatus
from projections.db import ReadModelDatabase
from projections.money import from_cents
from projections.schema import (
    CONVENTION_COLUMNS,
    CUBES,
    CUBES_BY_SIZE,
    PROJECT_COLUMNS,
    PROJECTS,
    TOTALS,
    generation_table,
    read_live_position,
    tables_of,
)
from projections.sql import Cursor
from projections.state import NONE, fold

T = TypeVar("T")
Collection = Mapping[str, object] | Sequence[str]

DIMENSIONS = (
    "region",
    "departement",
    "epci",
    "commune",
    "band",
    "theme",
    "instrument",
    "programme",
    "directorate",
    "convention",
    "year",
    "quarter",
    "month",
)
FIGURES = (
    "committed",
    "cancelled",
    "net_committed",
    "disbursed",
    "to_disburse",
    "repaid",
    "outstanding",
    "projects",
    "commitments",
    "leverage",
)
TERRITORY_FILTER = "territory"
# Dimensions whose value may be absent ('' in SQL, null in JSON): filter them with "".
NULLABLE = frozenset(
    {"departement", "epci", "commune", "band", "instrument", "programme", "convention"}
)
# The columns of each cube; the facts have every dimension. Every source needs `costed`
# besides what a query groups and filters by: the leverage sums the costed projects.
CUBE_COLUMNS = {cube: frozenset(key) for cube, key in CUBES.items()}
ALWAYS_USED = frozenset({"costed"})
TERRITORY_LEVELS = frozenset(level.value for level in TerritoryLevel)
QUARTER = re.compile(r"^\d{4}-Q[1-4]$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
LEVERAGE_PLACES = Decimal("0.01")
MAX_PAGE = 1000
READ_ATTEMPTS = 3

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
PROJECT_FILTERS = ("territory", "theme", "programme", "directorate", "status", "q")


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


@dataclass(frozen=True, slots=True)
class ProjectPage:
    """One page of projects, the cursor of the next page, and the log position."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    position: int


# Reading a snapshot ---------------------------------------------------------------------------


def _read(
    db: ReadModelDatabase, read_model: str, query: Callable[[Cursor, int], T]
) -> tuple[T | None, int]:
    """Run `query(cursor, live generation)` in one snapshot; return its answer and position.

    The answer is None while the read model has no generation yet (position 0).
    """
    for attempt in range(READ_ATTEMPTS):
        try:
            with db.transaction(readonly=True) as cur:
                generation, position = read_live_position(db, cur, read_model)
                if generation == 0:
                    return None, 0
                return query(cur, generation), position
        except Exception as error:
            # A swap dropped the generation between our lookup and our read: read again.
            if attempt + 1 == READ_ATTEMPTS or not db.is_missing_table(error):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def position(db: ReadModelDatabase, read_model: str) -> int:
    """Return the log position the live generation of a read model has reached (0 if none)."""
    if read_model not in (TOTALS, PROJECTS):
        raise InvalidValueError("read_model", f"unknown read model {read_model!r}")
    with db.transaction(readonly=True) as cur:
        return read_live_position(db, cur, read_model)[1]


# Totals ---------------------------------------------------------------------------------------


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
        [_condition(name, value) for name, value in (filters or {}).items()]
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

    found, at = _read(db, TOTALS, query)
    if max_rows is not None and found is not None and len(found) > max_rows:
        raise TooManyRowsError(max_rows)
    if not dims:
        # One row, of NULL sums when no row matched.
        sums = [int(v or 0) for v in found[0]] if found else [0] * len(SUMS)
        return Totals([_figures(sums)], _figures(sums), at, sources[0])
    # Grouped, every sum has a value: its group has rows, whose measures are NOT NULL.
    width = len(dims)
    rows: list[dict[str, Any]] = []
    for record in found or ():
        row = {
            dim: (None if value == NONE else value)
            for dim, value in zip(dims, record, strict=False)
        }
        row.update(_figures(record[width:]))
        rows.append(row)
    sums = [sum(column) for column in zip(*(record[width:] for record in found or ()), strict=True)]
    return Totals(rows, _figures(sums or [0] * len(SUMS)), at, sources[0])


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


def _condition(name: str, raw: object) -> tuple[str, object]:
    """Return the (column, value) a filter compares, or raise InvalidValueError naming it."""
    value = str(raw).strip()
    if name == TERRITORY_FILTER:
        try:
            territory = load_territories().get(value)
        except UnknownCodeError:
            raise InvalidValueError(
                name, f"unknown territory {value!r}: expected a prefixed code like region:32"
            ) from None
        return territory.level.value, territory.code
    if name not in DIMENSIONS:
        raise InvalidValueError(
            name,
            f"unknown filter: expected territory or one of {', '.join(DIMENSIONS)}",
        )
    if value == "":
        if name not in NULLABLE:
            raise InvalidValueError(name, "always has a value: an empty filter matches nothing")
        return name, NONE
    if name in TERRITORY_LEVELS:
        code = value if ":" in value else f"{name}:{value}"
        if code.partition(":")[0] != name or code not in load_territories():
            raise InvalidValueError(name, f"unknown {name} {value!r}")
        return name, code
    if name in ("year", "quarter", "month"):
        return name, _period(name, value)
    vocabularies: dict[str, Collection] = {
        "band": [band.value for band in Band],
        "theme": THEMES,
        "programme": PROGRAMMES,
        "directorate": DIRECTORATES,
        "instrument": [instrument.value for instrument in Instrument],
    }
    if name == "convention":
        try:
            return name, str(UUID(value))
        except ValueError:
            raise InvalidValueError(name, f"{value!r} is not a convention id") from None
    if value not in vocabularies[name]:
        raise InvalidValueError(name, f"unknown {name} {value!r}")
    return name, value


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


def _period(name: str, value: str) -> object:
    if name == "year":
        if not value.isdigit() or not EARLIEST_DATE.year <= int(value) <= LATEST_DATE.year:
            raise InvalidValueError(name, f"{value!r} is not a year like 2024")
        return int(value)
    pattern, example = (QUARTER, "2024-Q1") if name == "quarter" else (MONTH, "2024-03")
    if not pattern.match(value):
        raise InvalidValueError(name, f"{value!r} is not a {name} like {example}")
    return value


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


def _figures(values: Sequence[int]) -> dict[str, Any]:
    """Return the figures of summed measures (cents and counts)."""
    (
        committed,
        cancelled,
        disbursed,
        repaid,
        outstanding,
        projects,
        commitments,
        cost,
        net_costed,
    ) = values
    net = committed - cancelled
    return {
        "committed": from_cents(committed),
        "cancelled": from_cents(cancelled),
        "net_committed": from_cents(net),
        "disbursed": from_cents(disbursed),
        "to_disburse": from_cents(net - disbursed),
        "repaid": from_cents(repaid),
        "outstanding": from_cents(outstanding),
        "projects": projects,
        "commitments": commitments,
        "leverage": leverage(cost, net_costed),
    }


def leverage(estimated_cost: int, net_committed: int) -> Decimal | None:
    """Return Σ estimated cost / Σ net committed (costed projects), or None when unknown."""
    if net_committed == 0 or estimated_cost == 0:
        return None
    ratio = Decimal(estimated_cost) / Decimal(net_committed)
    return ratio.quantize(LEVERAGE_PLACES, rounding=ROUND_HALF_UP)


# Projects -------------------------------------------------------------------------------------


def list_projects(
    db: ReadModelDatabase,
    filters: Mapping[str, str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> ProjectPage:
    """Return a page of projects ordered by name, with their figures and conventions.

    Filters: territory (that territory and below), theme, programme, directorate, status,
    and q (words in the name or reference, ignoring case and accents).
    """
    if isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidValueError("limit", f"must be between 1 and {MAX_PAGE}")
    where: list[str] = []
    params: list[Any] = []
    for name, raw in (filters or {}).items():
        value = str(raw).strip()
        if name not in PROJECT_FILTERS:
            raise InvalidValueError(
                name, f"unknown filter: expected one of {', '.join(PROJECT_FILTERS)}"
            )
        if name == "status":
            if value not in {status.value for status in ProjectStatus}:
                raise InvalidValueError(name, f"unknown status {value!r}")
            where.append("status = ?")
            params.append(value)
        elif name == "q":
            needle = fold(value)
            if needle:
                escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                where.append("search LIKE ? ESCAPE '\\'")
                params.append(f"%{escaped}%")
        else:
            column, code = _condition(name, value)
            where.append(f"{column} = ?")
            params.append(code)
    if cursor is not None:
        after_name, after_id = _decode_cursor(cursor)
        where.append("(name > ? OR (name = ? AND project_id > ?))")
        params.extend([after_name, after_name, after_id])
    columns = ", ".join(PROJECT_COLUMNS)
    sql = (
        f"SELECT {columns} FROM {{table}}"  # noqa: S608
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY name, project_id LIMIT ?"
    )

    def query(cur: Cursor, generation: int) -> list[dict[str, Any]]:
        cur.execute(
            sql.format(table=db.table(generation_table("projects", generation))),
            [*params, limit + 1],
        )
        rows = [dict(zip(PROJECT_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        links = _links(db, cur, generation, [r["project_id"] for r in rows[:limit]])
        return [_project(r, links.get(r["project_id"], [])) for r in rows]

    found, at = _read(db, PROJECTS, query)
    items = found or []
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = _encode_cursor(items[-1]["name"], items[-1]["project_id"])
    return ProjectPage(items, next_cursor, at)


def project_row(db: ReadModelDatabase, project_id: UUID | str) -> dict[str, Any]:
    """Return one project with its figures and conventions, or raise NotFoundError."""
    key = _uuid("project_id", project_id)

    def query(cur: Cursor, generation: int) -> dict[str, Any] | None:
        table = db.table(generation_table("projects", generation))
        cur.execute(
            f"SELECT {', '.join(PROJECT_COLUMNS)} FROM {table} WHERE project_id = ?",  # noqa: S608
            (key,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        links = _links(db, cur, generation, [key])
        return _project(dict(zip(PROJECT_COLUMNS, row, strict=True)), links.get(key, []))

    found, at = _read(db, PROJECTS, query)
    if found is None:
        raise NotFoundError(f"no project {key} in the read model (at position {at})")
    return found


def _links(
    db: ReadModelDatabase, cur: Cursor, generation: int, project_ids: list[str]
) -> dict[str, list[str]]:
    if not project_ids:
        return {}
    table = db.table(generation_table("project_conventions", generation))
    links: dict[str, list[str]] = {}
    for project_id, convention_id in cur.select_in(
        f"SELECT project_id, convention_id FROM {table} "  # noqa: S608
        "WHERE project_id IN ({}) ORDER BY position",
        project_ids,
    ):
        links.setdefault(project_id, []).append(convention_id)
    return links


def _project(row: dict[str, Any], conventions: list[str]) -> dict[str, Any]:
    cost = row["estimated_cost"]
    net = row["committed"] - row["cancelled"]
    figures = _figures(
        [
            int(row["committed"]),
            int(row["cancelled"]),
            int(row["disbursed"]),
            int(row["repaid"]),
            int(row["outstanding"]),
            1,
            int(row["commitments"]),
            int(cost or 0),
            net if cost is not None else 0,
        ]
    )
    return {
        "project_id": row["project_id"],
        "name": row["name"],
        "territory": row["territory"],
        "level": row["level"],
        **{
            key: row[key] or None
            for key in ("region", "departement", "epci", "commune", "band", "programme")
        },
        "theme": row["theme"],
        "directorate": row["directorate"],
        "status": row["status"],
        "identified_on": _date(row["identified_on"]),
        "closed_on": _date(row["closed_on"]),
        "reference": row["reference"],
        "estimated_cost": None if cost is None else from_cents(cost),
        "conventions": conventions,
        "version": int(row["version"]),
        "position": int(row["position"]),
        "updated_position": int(row["updated_position"]),
        **figures,
    }


def _encode_cursor(name: str, project_id: str) -> str:
    raw = json.dumps([name, project_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, project_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(name, str) or not isinstance(project_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidValueError("cursor", "is not a cursor this API returned") from None
    return name, project_id


# Conventions ----------------------------------------------------------------------------------


def _conventions_sql(db: ReadModelDatabase, generation: int, where: str) -> str:
    def t(name: str) -> str:
        return db.table(generation_table(name, generation))

    columns = ", ".join(f"c.{column}" for column in CONVENTION_COLUMNS)
    return (
        f"SELECT {columns}, COALESCE(f.projects, 0), f.committed, f.cancelled, "  # noqa: S608
        "f.disbursed, f.repaid, f.outstanding, f.commitments, f.cost, f.net_costed "
        f"FROM {t('conventions')} c LEFT JOIN ("
        "SELECT l.convention_id, COUNT(*) AS projects, SUM(p.committed) AS committed, "
        "SUM(p.cancelled) AS cancelled, SUM(p.disbursed) AS disbursed, "
        "SUM(p.repaid) AS repaid, SUM(p.outstanding) AS outstanding, "
        "SUM(p.commitments) AS commitments, "
        "SUM(COALESCE(p.estimated_cost, 0)) AS cost, "
        "SUM(CASE WHEN p.estimated_cost IS NULL THEN 0 "
        "ELSE p.committed - p.cancelled END) AS net_costed "
        f"FROM {t('project_conventions')} l JOIN {t('projects')} p "
        "ON p.project_id = l.project_id GROUP BY l.convention_id"
        f") f ON f.convention_id = c.convention_id {where} ORDER BY c.title, c.convention_id"
    )


def _convention(record: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(CONVENTION_COLUMNS, record, strict=False))
    projects, *sums = record[len(CONVENTION_COLUMNS) :]
    committed, cancelled, disbursed, repaid, outstanding, commitments, cost, net_costed = (
        int(v or 0) for v in sums
    )
    envelope = row["envelope"]
    return {
        "convention_id": row["convention_id"],
        "title": row["title"],
        "directorate": row["directorate"],
        "signatories": json.loads(row["signatories"]),
        "themes": json.loads(row["themes"]),
        "signed_on": _date(row["signed_on"]),
        "ends_on": _date(row["ends_on"]),
        "ended_on": _date(row["ended_on"]),
        "envelope": None if envelope is None else from_cents(envelope),
        "version": int(row["version"]),
        "position": int(row["position"]),
        **_figures(
            [
                committed,
                cancelled,
                disbursed,
                repaid,
                outstanding,
                int(projects),
                commitments,
                cost,
                net_costed,
            ]
        ),
    }


def list_conventions(db: ReadModelDatabase) -> list[dict[str, Any]]:
    """Return every convention with the summed figures of the projects linked to it."""

    def query(cur: Cursor, generation: int) -> list[dict[str, Any]]:
        cur.execute(_conventions_sql(db, generation, ""))
        return [_convention(record) for record in cur.fetchall()]

    return _read(db, PROJECTS, query)[0] or []


def convention_row(db: ReadModelDatabase, convention_id: UUID | str) -> dict[str, Any]:
    """Return one convention with its projects' figures and ids, or raise NotFoundError."""
    key = _uuid("convention_id", convention_id)

    def query(cur: Cursor, generation: int) -> dict[str, Any] | None:
        cur.execute(_conventions_sql(db, generation, "WHERE c.convention_id = ?"), (key,))
        record = cur.fetchone()
        if record is None:
            return None
        found = _convention(record)
        table = db.table(generation_table("project_conventions", generation))
        cur.execute(
            f"SELECT project_id FROM {table} "  # noqa: S608
            "WHERE convention_id = ? ORDER BY position",
            (key,),
        )
        found["project_ids"] = [r[0] for r in cur.fetchall()]
        return found

    found, at = _read(db, PROJECTS, query)
    if found is None:
        raise NotFoundError(f"no convention {key} in the read model (at position {at})")
    return found


# Values ---------------------------------------------------------------------------------------


def _uuid(field: str, value: UUID | str) -> str:
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise InvalidValueError(field, f"{value!r} is not an id") from None


def _date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
