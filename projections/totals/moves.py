"""Moving a project in `totals`: its facts take its new dimensions, the cubes their sums."""

from __future__ import annotations

from typing import Protocol

from projections.sql import Cursor, Tables
from projections.totals.dimensions import CUBE_SPECS, ProjectDims
from projections.totals.tables import MEASURES, PROJECT_DIMENSIONS


class MovingPage(Protocol):
    """What moving a project's facts needs of the page being applied (feed.TotalsPage)."""

    @property
    def db(self) -> Tables:
        """The read-model database."""
        ...

    cur: Cursor
    bulk: bool
    facts: str
    cubes: list[str]
    dims_table: str
    moved: dict[str, ProjectDims]
    stale: list[ProjectDims]


MOVE_CHUNK = 500


def move_facts(page: MovingPage) -> None:
    """Move all the facts of the projects that moved, and their sums in the cubes.

    Runs after the page's rows are written, whatever dimensions each fact was written
    under: the cubes lose each fact's sums under its current key and gain them under the
    project's final one.
    """
    if not page.moved:
        return
    assignments = ", ".join(f"{d} = ?" for d in PROJECT_DIMENSIONS)
    facts = page.db.table(page.facts)
    project_ids = list(page.moved)
    if not page.bulk:
        _shift_cubes(page, project_ids, -1)
    page.cur.executemany(
        f"UPDATE {facts} SET {assignments} WHERE project_id = ?",  # noqa: S608
        [(*moved.dims, project_id) for project_id, moved in page.moved.items()],
    )
    page.cur.executemany(
        f"UPDATE {facts} SET estimated_cost = ? "  # noqa: S608
        "WHERE project_id = ? AND kind = 'identified'",
        [(moved.estimated_cost or 0, project_id) for project_id, moved in page.moved.items()],
    )
    if page.bulk:
        page.cur.executemany(
            f"UPDATE {page.db.table(page.dims_table)} "  # noqa: S608
            f"SET {assignments}, estimated_cost = ? WHERE project_id = ?",
            [
                (*moved.dims, moved.estimated_cost or 0, project_id)
                for project_id, moved in page.moved.items()
            ],
        )
        page.moved.clear()
        page.stale.clear()
        return
    _shift_cubes(page, project_ids, 1)
    # A cube row with facts always has a non-zero measure: a zero row is a moved-out group.
    zero = " AND ".join(f"{m} = 0" for m in MEASURES)
    for i, (cube, spec) in enumerate(zip(page.cubes, CUBE_SPECS, strict=True)):
        where = " AND ".join(f"{column} = ?" for column in spec.base)
        page.cur.executemany(
            f"DELETE FROM {page.db.table(cube)} WHERE {where} AND {zero}",  # noqa: S608
            sorted({before.bases[i] for before in page.stale}),
        )
    page.moved.clear()
    page.stale.clear()


def _shift_cubes(page: MovingPage, project_ids: list[str], sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the projects' facts from every cube."""
    sums = ", ".join(f"{'-' if sign < 0 else ''}SUM({m})" for m in MEASURES)
    measures = ", ".join(MEASURES)
    updates = ", ".join(f"{m} = t.{m} + excluded.{m}" for m in MEASURES)
    for start in range(0, len(project_ids), MOVE_CHUNK):
        chunk = project_ids[start : start + MOVE_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for cube, spec in zip(page.cubes, CUBE_SPECS, strict=True):
            keys = ", ".join(spec.key)
            page.cur.execute(
                f"INSERT INTO {page.db.table(cube)} AS t ({keys}, {measures}) "  # noqa: S608
                f"SELECT {keys}, {sums} FROM {page.db.table(page.facts)} "
                f"WHERE project_id IN ({marks}) GROUP BY {keys} "
                f"ON CONFLICT ({keys}) DO UPDATE SET {updates}",
                chunk,
            )
