"""State a projection keeps while applying a page: territories' dimensions and commitments."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from domain.reference.territories import TerritoryLevel, load_territories
from projections.db import ReadModelDatabase
from projections.events import Change
from projections.sql import Cursor

NONE = ""  # "not applicable / coarser level" in SQL; JSON null on output
COMMITMENT_COLUMNS = ("commitment_id", "project_id", "instrument", "committed_on", "amount")
COMMITMENT_TYPES = ("text", "text", "text", "text", "int8")


def commitments_ddl(table: str) -> list[str]:
    """Return the statements creating a read model's commitments table (qualified name)."""
    return [
        f"CREATE TABLE {table} (commitment_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, "
        "instrument TEXT NOT NULL, committed_on TEXT NOT NULL, amount BIGINT NOT NULL)"
    ]


@dataclass(frozen=True, slots=True)
class Place:
    """A territory's level and the codes it falls under at each level ('' where none)."""

    territory: str
    level: str
    region: str
    departement: str
    epci: str
    commune: str
    band: str


@cache
def place(code: str) -> Place:
    """Return where a territory sits: its own level, its ancestors, and its band."""
    territory = load_territories().get(code)
    return Place(
        code,
        territory.level.value,
        territory.at_level(TerritoryLevel.REGION) or NONE,
        territory.at_level(TerritoryLevel.DEPARTEMENT) or NONE,
        territory.at_level(TerritoryLevel.EPCI) or NONE,
        territory.at_level(TerritoryLevel.COMMUNE) or NONE,
        territory.band.value if territory.band is not None else NONE,
    )


@cache
def periods(day: str) -> tuple[int, str, str]:
    """Return (year, quarter, month) of an ISO date: (2024, '2024-Q1', '2024-03')."""
    month_number = int(day[5:7])
    return int(day[:4]), f"{day[:4]}-Q{(month_number - 1) // 3 + 1}", day[:7]


def fold(*texts: str | None) -> str:
    """Return texts lower-cased, without accents and punctuation, for a substring search."""
    joined = " ".join(t for t in texts if t)
    decomposed = unicodedata.normalize("NFKD", joined.casefold())
    letters = decomposed.replace("œ", "oe").replace("æ", "ae")
    kept = "".join(c if c.isalnum() else " " for c in letters if not unicodedata.combining(c))
    return " ".join(kept.split())


@dataclass(slots=True)
class CommitmentState:
    """What a projection remembers of a commitment: enough to date and size its changes."""

    project_id: str
    instrument: str
    committed_on: str
    amount: int


class UnknownAggregateError(LookupError):
    """An event refers to a project or commitment the read model never saw created."""


class CommitmentConflictError(LookupError):
    """An event creates a commitment whose id is already held, or moves another project's."""


class UnappliableEventError(Exception):
    """A read model cannot apply an event: it names the event's log position and why.

    Applying it anyway would make the read model disagree with the log, and trying again
    gives the same answer: the read model stops before it.
    """

    def __init__(self, position: int, reason: str, read_model: str | None = None) -> None:
        super().__init__(f"the event at log position {position} cannot be applied: {reason}")
        self.position = position
        self.reason = reason
        self.read_model = read_model


def unappliable(change: Change, error: Exception) -> UnappliableEventError:
    """Name the event whose application failed, with what failed."""
    what = (
        str(error)
        if isinstance(error, UnknownAggregateError | CommitmentConflictError)
        else f"{type(error).__name__}: {error}"
    )
    return UnappliableEventError(
        change.position,
        f"{change.name} of {change.aggregate} {change.aggregate_id} "
        f"(version {change.version}): {what}",
    )


class CommitmentBook:
    """The commitments a page touches: loaded in one query, written back at each flush.

    A commitment id names one commitment: a page that creates one already known (on
    another project or the same), or moves one under another project than its own, is
    refused, never applied over the one it collides with.
    """

    def __init__(self, db: ReadModelDatabase, table: str) -> None:
        self._db = db
        self._table = table
        self._known: dict[str, CommitmentState] = {}
        self._new: set[str] = set()
        self._changed: set[str] = set()
        self._removed: set[str] = set()

    def load(self, cur: Cursor, commitment_ids: Iterable[str]) -> None:
        """Read the commitments not yet in memory (those created by the page too)."""
        wanted = [cid for cid in set(commitment_ids) if cid not in self._known]
        if not wanted:
            return
        rows = cur.select_in(
            f"SELECT {', '.join(COMMITMENT_COLUMNS)} FROM {self._db.table(self._table)} "  # noqa: S608
            "WHERE commitment_id IN ({})",
            wanted,
        )
        for cid, project_id, instrument, committed_on, amount in rows:
            self._known[cid] = CommitmentState(project_id, instrument, committed_on, int(amount))

    def add(self, commitment_id: str, state: CommitmentState) -> None:
        """Remember a new commitment, or raise CommitmentConflictError if its id is taken.

        The page must have loaded the id first (see `load`).
        """
        held = self._known.get(commitment_id)
        if held is not None:
            raise CommitmentConflictError(
                f"commitment {commitment_id} is already held by project {held.project_id}"
                + (" (granted twice)" if held.project_id == state.project_id else "")
            )
        self._known[commitment_id] = state
        self._new.add(commitment_id)

    def get(self, commitment_id: str, project_id: str) -> CommitmentState:
        """Return a project's commitment; raise UnknownAggregateError or CommitmentConflictError."""
        try:
            state = self._known[commitment_id]
        except KeyError:
            raise UnknownAggregateError(
                f"commitment {commitment_id} was never granted in this read model"
            ) from None
        if state.project_id != project_id:
            raise CommitmentConflictError(
                f"commitment {commitment_id} is held by project {state.project_id}"
            )
        return state

    def set_amount(self, commitment_id: str, project_id: str, amount: int) -> None:
        """Change a project's commitment's amount (a correction)."""
        self.get(commitment_id, project_id).amount = amount
        if commitment_id not in self._new:
            self._changed.add(commitment_id)

    def set_committed_on(self, commitment_id: str, project_id: str, on: str) -> None:
        """Change a project's commitment's effective date (a correction)."""
        self.get(commitment_id, project_id).committed_on = on
        if commitment_id not in self._new:
            self._changed.add(commitment_id)

    def remove(self, commitment_id: str, project_id: str) -> CommitmentState:
        """Forget a project's commitment (voided: recorded in error); return what it was."""
        state = self.get(commitment_id, project_id)
        del self._known[commitment_id]
        self._changed.discard(commitment_id)
        if commitment_id in self._new:
            self._new.discard(commitment_id)
        else:
            self._removed.add(commitment_id)
        return state

    def flush(self, cur: Cursor) -> None:
        """Write new and changed commitments, delete removed ones."""
        if self._removed:
            cur.executemany(
                f"DELETE FROM {self._db.table(self._table)} WHERE commitment_id = ?",  # noqa: S608
                [(cid,) for cid in sorted(self._removed)],
            )
            self._removed.clear()
        if self._new:
            cur.copy_rows(
                self._table,
                COMMITMENT_COLUMNS,
                [
                    (cid, s.project_id, s.instrument, s.committed_on, s.amount)
                    for cid in self._new
                    for s in (self._known[cid],)
                ],
                COMMITMENT_TYPES,
            )
        if self._changed:
            cur.executemany(
                f"UPDATE {self._db.table(self._table)} "  # noqa: S608
                "SET amount = ?, committed_on = ? WHERE commitment_id = ?",
                [
                    (self._known[cid].amount, self._known[cid].committed_on, cid)
                    for cid in sorted(self._changed)
                ],
            )
        self._new.clear()
        self._changed.clear()
