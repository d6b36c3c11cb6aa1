"""Undoing in `totals`: the facts of an entry recorded in error leave, and their sums the cubes.

A commitment voided (recorded in error) counts nowhere, at no date: its facts (committed,
corrected, cancelled, disbursed, repaid) are deleted, each cube loses their sums under the
key they were stored with, and a cube row left with only zero measures goes too, as if the
commitment had never been recorded. A reversed disbursement or repayment loses its one fact
the same way. A rebuild in bulk deletes the same facts and sums the
cubes from what remains, so both ways give the same tables.
"""

from __future__ import annotations

from typing import Protocol

from projections.sql import Cursor, Tables
from projections.totals.dimensions import CUBE_SPECS
from projections.totals.tables import MEASURES


class VoidingPage(Protocol):
    """What voiding needs of the page being applied (feed.TotalsPage), its rows written."""

    @property
    def db(self) -> Tables:
        """The read-model database."""
        ...

    cur: Cursor
    bulk: bool
    facts: str
    cubes: list[str]


def remove_commitment_facts(page: VoidingPage, commitment_id: str) -> None:
    """Delete a commitment's facts, and (outside bulk) their sums from every cube."""
    _remove(page, "commitment_id = ?", (commitment_id,))


def remove_project_facts(page: VoidingPage, project_id: str) -> None:
    """Delete every fact of a project voided, and (outside bulk) their sums from every cube."""
    _remove(page, "project_id = ?", (project_id,))


def remove_movement_fact(
    page: VoidingPage, commitment_id: str, kind: str, measure: str, amount: int, on: str
) -> None:
    """Delete the first fact of a movement (kind, date, amount) under a commitment.

    Movements alike in all three are alike in every figure: which one goes changes nothing.
    """
    page.cur.execute(
        f"SELECT position, day, {measure} FROM {page.db.table(page.facts)} "  # noqa: S608
        "WHERE commitment_id = ? AND kind = ? ORDER BY position",
        (commitment_id, kind),
    )
    for position, day, moved in page.cur.fetchall():
        if str(day)[:10] == on and int(moved) == amount:
            _remove(page, "position = ?", (position,))
            return
    raise LookupError(f"no {kind} fact of {amount} cents on {on} under commitment {commitment_id}")


def _remove(page: VoidingPage, where: str, params: tuple[object, ...]) -> None:
    """Delete the facts `where` selects, and (outside bulk) their sums from every cube."""
    facts = page.db.table(page.facts)
    if not page.bulk:
        sums = ", ".join(f"-SUM({m})" for m in MEASURES)
        measures = ", ".join(MEASURES)
        updates = ", ".join(f"{m} = t.{m} + excluded.{m}" for m in MEASURES)
        zero = " AND ".join(f"{m} = 0" for m in MEASURES)
        for cube, spec in zip(page.cubes, CUBE_SPECS, strict=True):
            keys = ", ".join(spec.key)
            table = page.db.table(cube)
            page.cur.execute(
                f"INSERT INTO {table} AS t ({keys}, {measures}) "  # noqa: S608
                f"SELECT {keys}, {sums} FROM {facts} WHERE {where} GROUP BY {keys} "
                f"ON CONFLICT ({keys}) DO UPDATE SET {updates}",
                params,
            )
            page.cur.execute(f"DELETE FROM {table} WHERE {zero}")  # noqa: S608
    page.cur.execute(f"DELETE FROM {facts} WHERE {where}", params)  # noqa: S608
