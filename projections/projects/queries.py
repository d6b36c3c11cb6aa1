"""Reads of the `projects` read model: project and convention lists, one of each by id."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from domain.errors import InvalidValueError, NotFoundError, UnknownInstrumentError
from domain.reference import Instrument
from domain.values import ProjectStatus
from projections.db import ReadModelDatabase
from projections.layout import generation_table
from projections.money import from_cents
from projections.projects.tables import CONVENTION_COLUMNS, PROJECT_COLUMNS
from projections.reading import as_date, as_uuid, condition, figures, read_snapshot
from projections.registry import PROJECTS
from projections.sql import Cursor
from projections.state import fold

MAX_PAGE = 1000
PROJECT_FILTERS = (
    "territory",
    "theme",
    "programme",
    "instrument",
    "directorate",
    "status",
    "q",
)


@dataclass(frozen=True, slots=True)
class ProjectPage:
    """One page of projects, the cursor of the next page, and the log position."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    position: int


def list_projects(
    db: ReadModelDatabase,
    filters: Mapping[str, str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> ProjectPage:
    """Return a page of projects ordered by name, with their figures and conventions.

    Filters: territory (that territory and below), theme, programme, instrument, directorate,
    status, and q (words in the name or reference, ignoring case and accents). `instrument`
    and `date_from`/`date_to` keep the projects holding a commitment (not voided) of that
    instrument and whose effective date falls in the period, both days included: those
    whose commitment `/v1/totals` counts with the same filters.
    """
    if isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidValueError("limit", f"must be between 1 and {MAX_PAGE}")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidValueError("from", f"{date_from} comes after to={date_to}")
    where: list[str] = []
    params: list[Any] = []
    held: list[str] = []
    held_params: list[Any] = []
    for name, raw in (filters or {}).items():
        value = str(raw).strip()
        if name not in PROJECT_FILTERS:
            raise InvalidValueError(
                name, f"unknown filter: expected one of {', '.join(PROJECT_FILTERS)}"
            )
        if name == "status":
            if value not in {status.value for status in ProjectStatus}:
                raise InvalidValueError(name, f"unknown status {value!r}")
            where.append("p.status = ?")
            params.append(value)
        elif name == "instrument":
            if value not in {instrument.value for instrument in Instrument}:
                raise UnknownInstrumentError(value, field=name)
            held.append("c.instrument = ?")
            held_params.append(value)
        elif name == "q":
            needle = fold(value)
            if needle:
                escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                where.append("p.search LIKE ? ESCAPE '\\'")
                params.append(f"%{escaped}%")
        else:
            column, code = condition(name, value)
            where.append(f"p.{column} = ?")
            params.append(code)
    # Effective dates are ISO text in the commitments table: compared as text.
    for bound, operator in ((date_from, ">="), (date_to, "<=")):
        if bound is not None:
            held.append(f"c.committed_on {operator} ?")
            held_params.append(bound.isoformat())
    if held:
        # One probe of the (project_id, instrument, committed_on) index per project looked at.
        held_sql = " AND ".join(held)
        where.append(
            "EXISTS (SELECT 1 FROM {commitments} c "  # noqa: S608
            f"WHERE c.project_id = p.project_id AND {held_sql})"
        )
        params.extend(held_params)
    if "status" not in (filters or {}):
        # A project voided (recorded in error) is listed only when asked for by its status.
        where.append("p.status <> 'voided'")
    if cursor is not None:
        after_name, after_id = _decode_cursor(cursor)
        where.append("(p.name > ? OR (p.name = ? AND p.project_id > ?))")
        params.extend([after_name, after_name, after_id])
    columns = ", ".join(f"p.{column}" for column in PROJECT_COLUMNS)
    sql = (
        f"SELECT {columns} FROM {{table}} p"  # noqa: S608
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY p.name, p.project_id LIMIT ?"
    )

    def query(cur: Cursor, generation: int) -> list[dict[str, Any]]:
        cur.execute(
            sql.format(
                table=db.table(generation_table("projects", generation)),
                commitments=db.table(generation_table("projects_commitments", generation)),
            ),
            [*params, limit + 1],
        )
        rows = [dict(zip(PROJECT_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        links = _links(db, cur, generation, [r["project_id"] for r in rows[:limit]])
        return [_project(r, links.get(r["project_id"], [])) for r in rows]

    found, at = read_snapshot(db, PROJECTS, query)
    items = found or []
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = _encode_cursor(items[-1]["name"], items[-1]["project_id"])
    return ProjectPage(items, next_cursor, at)


def project_row(db: ReadModelDatabase, project_id: UUID | str) -> dict[str, Any]:
    """Return one project with its figures and conventions, or raise NotFoundError."""
    key = as_uuid("project_id", project_id)

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

    found, at = read_snapshot(db, PROJECTS, query)
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
    sums = figures(
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
        "identified_on": as_date(row["identified_on"]),
        "closed_on": as_date(row["closed_on"]),
        "reference": row["reference"],
        "estimated_cost": None if cost is None else from_cents(cost),
        "conventions": conventions,
        "version": int(row["version"]),
        "position": int(row["position"]),
        "updated_position": int(row["updated_position"]),
        **sums,
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
        "ON p.project_id = l.project_id AND p.status <> 'voided' GROUP BY l.convention_id"
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
        "signed_on": as_date(row["signed_on"]),
        "ends_on": as_date(row["ends_on"]),
        "ended_on": as_date(row["ended_on"]),
        "envelope": None if envelope is None else from_cents(envelope),
        "version": int(row["version"]),
        "position": int(row["position"]),
        **figures(
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

    return read_snapshot(db, PROJECTS, query)[0] or []


def convention_row(db: ReadModelDatabase, convention_id: UUID | str) -> dict[str, Any]:
    """Return one convention with its projects' figures and ids, or raise NotFoundError."""
    key = as_uuid("convention_id", convention_id)

    def query(cur: Cursor, generation: int) -> dict[str, Any] | None:
        cur.execute(_conventions_sql(db, generation, "WHERE c.convention_id = ?"), (key,))
        record = cur.fetchone()
        if record is None:
            return None
        found = _convention(record)
        links = db.table(generation_table("project_conventions", generation))
        projects = db.table(generation_table("projects", generation))
        # A project voided (recorded in error) is under no convention.
        cur.execute(
            f"SELECT l.project_id FROM {links} l JOIN {projects} p "  # noqa: S608
            "ON p.project_id = l.project_id AND p.status <> 'voided' "
            "WHERE l.convention_id = ? ORDER BY l.position",
            (key,),
        )
        found["project_ids"] = [r[0] for r in cur.fetchall()]
        return found

    found, at = read_snapshot(db, PROJECTS, query)
    if found is None:
        raise NotFoundError(f"no convention {key} in the read model (at position {at})")
    return found


def open_namesakes(
    db: ReadModelDatabase, directorate: str, territory: str, name: str
) -> list[dict[str, Any]]:
    """The open projects of a directorate in a territory under the same name (case, accents,
    punctuation and spacing aside), oldest first: what a new one would most likely repeat."""
    wanted = fold(name)

    def query(cur: Cursor, generation: int) -> list[dict[str, Any]]:
        table = db.table(generation_table("projects", generation))
        cur.execute(
            f"SELECT project_id, name, position FROM {table} "  # noqa: S608
            "WHERE directorate = ? AND territory = ? AND status = 'active' ORDER BY position",
            (directorate, territory),
        )
        return [
            {"project_id": project_id, "name": found, "position": position}
            for project_id, found, position in cur.fetchall()
            if fold(found) == wanted
        ]

    found, _ = read_snapshot(db, PROJECTS, query)
    return found or []
