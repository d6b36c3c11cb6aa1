"""Undoing in `projects`: what an entry recorded in error added to a project's figures goes.

Page by page, a project's row loses it at once; in bulk (a rebuild), the move each event
writes takes it back when the figures are summed at the end: a voided commitment leaves the
commitments table, so the moves under it count as disbursed but not outstanding, and its
voiding's move takes back what they moved.
"""

from __future__ import annotations

from typing import Any, Protocol

from projections.events import Change, cents, day
from projections.state import CommitmentBook

Row = dict[str, Any]
# What an event moved, in bulk: (commitment disbursed under, cancelled, disbursed, repaid).
Moved = tuple[str | None, int, int, int]


class UndoingPage(Protocol):
    """What undoing needs of the page being applied (feed.ProjectsPage)."""

    commitments: CommitmentBook


def commitment_voided(page: UndoingPage, row: Row, change: Change) -> None:
    """The commitment and what moved under it leave the project's figures."""
    commitment = page.commitments.remove(change.commitment, change.aggregate_id)
    data = change.data
    disbursed, repaid = cents(data["disbursed"]), cents(data["repaid"])
    row["committed"] -= commitment.amount
    row["commitments"] -= 1
    row["cancelled"] -= cents(data["cancelled"])
    row["disbursed"] -= disbursed
    row["repaid"] -= repaid
    row["outstanding"] -= (disbursed if commitment.instrument == "loan" else 0) - repaid


def disbursement_reversed(page: UndoingPage, row: Row, change: Change) -> None:
    """The disbursement leaves the project's figures."""
    commitment = page.commitments.get(change.commitment, change.aggregate_id)
    amount = cents(change.data["amount"])
    row["disbursed"] -= amount
    if commitment.instrument == "loan":
        row["outstanding"] -= amount


def repayment_reversed(_: UndoingPage, row: Row, change: Change) -> None:
    """The repayment leaves the project's figures: the principal is owed again."""
    amount = cents(change.data["principal"])
    row["repaid"] -= amount
    row["outstanding"] += amount


def date_corrected(page: UndoingPage, _: Row | None, change: Change) -> None:
    """No figure of the project's moves; the commitment keeps its corrected date."""
    on = day(change.data["committed_on"])
    page.commitments.set_committed_on(change.commitment, change.aggregate_id, on)


def project_voided(_: UndoingPage, row: Row, __: Change) -> None:
    """The project is listed only when asked for; its figures stay as they were."""
    row["status"] = "voided"


# In bulk: what each event moved ------------------------------------------------------------


def commitment_voided_in_bulk(page: UndoingPage, change: Change) -> Moved | None:
    page.commitments.remove(change.commitment, change.aggregate_id)
    data = change.data
    return None, -cents(data["cancelled"]), -cents(data["disbursed"]), -cents(data["repaid"])


def disbursement_reversed_in_bulk(_: UndoingPage, change: Change) -> Moved | None:
    return change.commitment, 0, -cents(change.data["amount"]), 0


def repayment_reversed_in_bulk(_: UndoingPage, change: Change) -> Moved | None:
    return None, 0, 0, -cents(change.data["principal"])


def date_corrected_in_bulk(page: UndoingPage, change: Change) -> Moved | None:
    date_corrected(page, None, change)
    return None
