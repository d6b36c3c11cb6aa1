"""Undoing in `totals`: the facts of an entry recorded in error leave, and their sums the cubes.

A commitment voided (recorded in error) counts nowhere, at no date: its facts (committed,
corrected, cancelled, disbursed, repaid) are deleted, each cube loses their sums under the
key they were stored with, and a cube row left with only zero measures goes too, as if the
commitment had never been recorded. A reversed disbursement or repayment loses its one fact
the same way. A rebuild in bulk deletes the same facts and sums the
cubes from what remains, so both ways give the same tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Protocol

from projections.events import Change, cents, day
from projections.sql import Cursor, Tables
from projections.state import CommitmentBook, UnknownAggregateError, periods
from projections.totals.dimensions import CUBE_SPECS
from projections.totals.tables import MEASURES


class VoidingPage(Protocol):
    """What undoing needs of the page being applied (feed.TotalsPage)."""

    @property
    def db(self) -> Tables:
        """The read-model database."""
        ...

    cur: Cursor
    bulk: bool
    binary: bool
    facts: str
    cubes: list[str]
    commitments: CommitmentBook

    @property
    def projects(self) -> Mapping[str, object]:
        """The dimensions of the projects the page knows, by id."""
        ...

    def flush(self) -> None:
        """Write the page's pending rows (the facts to undo may be among them)."""
        ...


# What each event undoing an entry does to a page of `totals` (feed.ON_PROJECT_EVENT).


def commitment_voided(page: VoidingPage, change: Change) -> None:
    """The commitment and its movements leave every figure, at every date."""
    page.commitments.remove(change.commitment, change.aggregate_id)
    page.flush()
    remove_commitment_facts(page, change.commitment)


def date_corrected(page: VoidingPage, change: Change) -> None:
    """What the commitment committed moves to its corrected date."""
    cid = change.commitment
    on = day(change.data["committed_on"])
    page.commitments.set_committed_on(cid, change.aggregate_id, on)
    page.flush()
    redate_commitment_facts(page, cid, date.fromisoformat(on) if page.binary else on)


def project_voided(page: VoidingPage, change: Change) -> None:
    """The project counts nowhere, nor anything recorded under it."""
    if change.aggregate_id not in page.projects:
        raise UnknownAggregateError(
            f"project {change.aggregate_id} was never identified in this read model"
        )
    page.flush()
    remove_project_facts(page, change.aggregate_id)


def disbursement_reversed(page: VoidingPage, change: Change) -> None:
    """The disbursement's own fact goes, from its own period."""
    page.commitments.get(change.commitment, change.aggregate_id)
    page.flush()
    on, amount = day(change.data["disbursed_on"]), cents(change.data["amount"])
    remove_movement_fact(page, change.commitment, "disbursed", "disbursed", amount, on)


def repayment_reversed(page: VoidingPage, change: Change) -> None:
    """The repayment's own fact goes, from its own period."""
    page.commitments.get(change.commitment, change.aggregate_id)
    page.flush()
    on, amount = day(change.data["repaid_on"]), cents(change.data["principal"])
    remove_movement_fact(page, change.commitment, "repaid", "repaid", amount, on)


# The facts and the cubes --------------------------------------------------------------------


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
    for position, fact_day, moved in page.cur.fetchall():
        if str(fact_day)[:10] == on and int(moved) == amount:
            _remove(page, "position = ?", (position,))
            return
    raise LookupError(f"no {kind} fact of {amount} cents on {on} under commitment {commitment_id}")


def redate_commitment_facts(page: VoidingPage, commitment_id: str, on: object) -> None:
    """Move a commitment's committed (and corrected) facts to its corrected date.

    Outside bulk, every cube loses their sums under their old period and gains them under
    the new one; a cube row left with only zero measures goes.
    """
    where = "commitment_id = ? AND kind IN ('committed', 'corrected')"
    iso = str(on)[:10]
    year, quarter, month = periods(iso)
    if not page.bulk:
        _shift(page, where, (commitment_id,), -1)
    page.cur.execute(
        f"UPDATE {page.db.table(page.facts)} "  # noqa: S608
        f"SET day = ?, year = ?, quarter = ?, month = ? WHERE {where}",
        (on, year, quarter, month, commitment_id),
    )
    if not page.bulk:
        _shift(page, where, (commitment_id,), 1)
        _drop_zero_rows(page)


def _shift(page: VoidingPage, where: str, params: tuple[object, ...], sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the sums of the facts `where` selects, per cube."""
    facts = page.db.table(page.facts)
    sums = ", ".join(f"{'-' if sign < 0 else ''}SUM({m})" for m in MEASURES)
    measures = ", ".join(MEASURES)
    updates = ", ".join(f"{m} = t.{m} + excluded.{m}" for m in MEASURES)
    for cube, spec in zip(page.cubes, CUBE_SPECS, strict=True):
        keys = ", ".join(spec.key)
        page.cur.execute(
            f"INSERT INTO {page.db.table(cube)} AS t ({keys}, {measures}) "  # noqa: S608
            f"SELECT {keys}, {sums} FROM {facts} WHERE {where} GROUP BY {keys} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {updates}",
            params,
        )


def _drop_zero_rows(page: VoidingPage) -> None:
    """Delete the cube rows whose measures are all zero: groups left without facts."""
    zero = " AND ".join(f"{m} = 0" for m in MEASURES)
    for cube in page.cubes:
        page.cur.execute(f"DELETE FROM {page.db.table(cube)} WHERE {zero}")  # noqa: S608


def _remove(page: VoidingPage, where: str, params: tuple[object, ...]) -> None:
    """Delete the facts `where` selects, and (outside bulk) their sums from every cube."""
    if not page.bulk:
        _shift(page, where, params, -1)
        _drop_zero_rows(page)
    page.cur.execute(f"DELETE FROM {page.db.table(page.facts)} WHERE {where}", params)  # noqa: S608
