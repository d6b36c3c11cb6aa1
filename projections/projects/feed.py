"""How events change the `projects` read model: each project's details, status and figures;
the conventions and the projects linked to them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from projections.db import ReadModelDatabase
from projections.events import (
    COMMITMENT_CREATED,
    CONVENTION_TOPIC,
    IDENTIFIED,
    PROJECT_TOPIC,
    Change,
    cents,
    day,
    optional_cents,
    optional_day,
    uuid_text,
)
from projections.layout import generation_table
from projections.projects import undo
from projections.projects.tables import (
    CONVENTION_COLUMNS,
    MOVE_COLUMNS,
    MOVE_TYPES,
    PROJECT_COLUMNS,
)
from projections.sql import Cursor
from projections.state import (
    NONE,
    CommitmentBook,
    CommitmentState,
    UnknownAggregateError,
    fold,
    place,
    unappliable,
)

Row = dict[str, Any]
# What an event moved, in bulk: (commitment disbursed under, cancelled, disbursed, repaid).
Moved = tuple[str | None, int, int, int]
NOTHING_MOVED: Moved = (None, 0, 0, 0)
SIGNED = "ConventionSigned"
# The events that change a project's row but its figures.
DETAILS_CHANGED = frozenset(
    {"ProjectDetailsCorrected", "ProjectCompleted", "ProjectAbandoned", "ProjectVoided"}
)


class ProjectsPage:
    """Applies one page of changes to a generation of `projects`, inside one transaction.

    In `bulk` (a generation being rebuilt, see `generations.settle`) the page neither reads nor
    updates a project's row for its figures: it writes what each event moved to a scratch
    table, and the figures are summed from it (and the commitments) at the end. It reads
    the commitments its events name all the same: one held by another project is refused.
    """

    def __init__(
        self, db: ReadModelDatabase, cur: Cursor, generation: int, bulk: bool = False
    ) -> None:
        self.db = db
        self.cur = cur
        self.bulk = bulk
        self.moves: list[tuple[Any, ...]] = []
        self.moves_table = generation_table("project_moves", generation)
        self.projects_table = generation_table("projects", generation)
        self.links_table = generation_table("project_conventions", generation)
        self.conventions_table = generation_table("conventions", generation)
        self.commitments = CommitmentBook(db, generation_table("projects_commitments", generation))
        self.projects: dict[str, Row] = {}
        self.new_projects: set[str] = set()
        self.conventions: dict[str, Row] = {}
        self.new_conventions: set[str] = set()
        self.links: list[tuple[str, str, int]] = []

    def load(self, changes: Sequence[Change]) -> None:
        """Read the rows of the projects, conventions and commitments the page changes."""
        projects: set[str] = set()
        conventions: set[str] = set()
        commitments: set[str] = set()
        bulk = self.bulk
        for change in changes:
            if change.aggregate == "project":
                if change.commitment_id is not None:
                    # Created ones too: an id already held elsewhere is refused.
                    commitments.add(change.commitment_id)
                if bulk:
                    if change.name in DETAILS_CHANGED:
                        projects.add(change.aggregate_id)
                    continue
                if change.name != IDENTIFIED:
                    projects.add(change.aggregate_id)
            elif change.name != SIGNED:
                conventions.add(change.aggregate_id)
        for ids, table, columns, rows in (
            (projects, self.projects_table, PROJECT_COLUMNS, self.projects),
            (conventions, self.conventions_table, CONVENTION_COLUMNS, self.conventions),
        ):
            if ids:
                found = self.cur.select_in(
                    f"SELECT {', '.join(columns)} FROM {self.db.table(table)} "  # noqa: S608
                    f"WHERE {columns[0]} IN ({{}})",
                    ids,
                )
                for values in found:
                    rows[values[0]] = dict(zip(columns, values, strict=True))
        self.commitments.load(self.cur, commitments)

    def apply(self, changes: Sequence[Change]) -> None:
        """Apply the changes in log order, then write the rows.

        An event that cannot be applied raises UnappliableEventError, naming it.
        """
        self.load(changes)
        bulk = self.bulk
        for change in changes:
            try:
                if change.aggregate != "project":
                    self._apply_convention(change)
                elif bulk and change.name != IDENTIFIED:
                    self._apply_bulk(change)
                else:
                    self._apply_project(change)
            except Exception as error:
                raise unappliable(change, error) from error
        self.flush()

    def _row(self, rows: dict[str, Row], key: str, what: str) -> Row:
        try:
            return rows[key]
        except KeyError:
            raise UnknownAggregateError(
                f"{what} {key} was never created in this read model"
            ) from None

    def _apply_project(self, change: Change) -> None:
        pid = change.aggregate_id
        if change.name == IDENTIFIED:
            self._identified(change)
            return
        on_event = ON_PROJECT_EVENT.get(change.name)
        if on_event is None:
            return
        row = self._row(self.projects, pid, "project")
        row["version"] = change.version
        row["updated_position"] = change.position
        if change.commitment_id is not None and change.name not in COMMITMENT_CREATED:
            # Only under a commitment of the project's own.
            self.commitments.get(change.commitment_id, pid)
        on_event(self, row, change)

    def _identified(self, change: Change) -> None:
        data = change.data
        pid = change.aggregate_id
        row: Row = {
            "project_id": pid,
            "name": data["name"],
            "search": fold(data["name"], data.get("reference")),
            "theme": data["theme"],
            "programme": data["programme"] or NONE,
            "directorate": data["directorate"],
            "status": "active",
            "identified_on": day(data["identified_on"]),
            "closed_on": None,
            "reference": data.get("reference"),
            "estimated_cost": optional_cents(data["estimated_cost"]),
            "version": change.version,
            "position": change.position,
            "committed": 0,
            "cancelled": 0,
            "disbursed": 0,
            "repaid": 0,
            "outstanding": 0,
            "commitments": 0,
            "updated_position": change.position,
        }
        _place(row, data["territory"])
        self.projects[pid] = row
        self.new_projects.add(pid)

    def _committed(self, row: Row, change: Change) -> None:
        row["committed"] += self._add_commitment(change)
        row["commitments"] += 1

    def _add_commitment(self, change: Change) -> int:
        """Remember the commitment an event creates; return its amount."""
        date_field, instrument = COMMITMENT_CREATED[change.name]
        amount = cents(change.data["amount"])
        self.commitments.add(
            change.commitment,
            CommitmentState(change.aggregate_id, instrument, day(change.data[date_field]), amount),
        )
        return amount

    def _disbursed(self, row: Row, change: Change) -> None:
        commitment = self.commitments.get(change.commitment, change.aggregate_id)
        amount = cents(change.data["amount"])
        row["disbursed"] += amount
        if commitment.instrument == "loan":
            row["outstanding"] += amount

    def _repaid(self, row: Row, change: Change) -> None:
        amount = cents(change.data["principal"])
        row["repaid"] += amount
        row["outstanding"] -= amount

    def _cancelled(self, row: Row, change: Change) -> None:
        row["cancelled"] += cents(change.data["amount"])

    def _amount_corrected(self, row: Row, change: Change) -> None:
        cid = change.commitment
        pid = change.aggregate_id
        amount = cents(change.data["amount"])
        row["committed"] += amount - self.commitments.get(cid, pid).amount
        self.commitments.set_amount(cid, pid, amount)

    def _details_corrected(self, row: Row, change: Change) -> None:
        data = change.data
        cleared = data.get("cleared") or ()
        for field in ("name", "theme", "programme"):
            if data.get(field) is not None:
                row[field] = data[field]
        row["search"] = fold(row["name"], row["reference"])
        if data.get("territory") is not None:
            _place(row, data["territory"])
        if data.get("estimated_cost") is not None:
            row["estimated_cost"] = cents(data["estimated_cost"])
        if "programme" in cleared:
            row["programme"] = NONE
        if "estimated_cost" in cleared:
            row["estimated_cost"] = None

    def _linked(self, _: Row | None, change: Change) -> None:
        self.links.append(
            (change.aggregate_id, uuid_text(change.data["convention_id"]), change.position)
        )

    def _completed(self, row: Row, change: Change) -> None:
        row["status"] = "completed"
        row["closed_on"] = day(change.data["on"])

    def _abandoned(self, row: Row, change: Change) -> None:
        row["status"] = "abandoned"
        row["closed_on"] = day(change.data["on"])

    def _versioned(self, row: Row, change: Change) -> None:
        """An event that changes no column but the project's version and position."""

    def _apply_bulk(self, change: Change) -> None:
        """Apply a project's event in bulk: remember what it moved."""
        if change.name not in ON_PROJECT_EVENT:
            return
        if change.commitment_id is not None and change.name not in COMMITMENT_CREATED:
            # Only under a commitment of the project's own.
            self.commitments.get(change.commitment_id, change.aggregate_id)
        on_event = ON_PROJECT_EVENT_IN_BULK.get(change.name)
        moved = None if on_event is None else on_event(self, change)
        commitment_id, cancelled, disbursed, repaid = moved or NOTHING_MOVED
        self.moves.append(
            (
                change.aggregate_id,
                commitment_id,
                change.version,
                change.position,
                cancelled,
                disbursed,
                repaid,
            )
        )

    def _committed_in_bulk(self, change: Change) -> Moved | None:
        self._add_commitment(change)
        return None

    def _disbursed_in_bulk(self, change: Change) -> Moved | None:
        return change.commitment, 0, cents(change.data["amount"]), 0

    def _repaid_in_bulk(self, change: Change) -> Moved | None:
        return None, 0, 0, cents(change.data["principal"])

    def _cancelled_in_bulk(self, change: Change) -> Moved | None:
        return None, cents(change.data["amount"]), 0, 0

    def _amount_corrected_in_bulk(self, change: Change) -> Moved | None:
        cid = change.commitment
        self.commitments.set_amount(cid, change.aggregate_id, cents(change.data["amount"]))
        return None

    def _details_in_bulk(self, change: Change) -> Moved | None:
        self._apply_project(change)
        return None

    def _linked_in_bulk(self, change: Change) -> Moved | None:
        self._linked(None, change)
        return None

    def _apply_convention(self, change: Change) -> None:
        data = change.data
        cid = change.aggregate_id
        if change.name == SIGNED:
            self.conventions[cid] = {
                "convention_id": cid,
                "title": data["title"],
                "directorate": data["directorate"],
                "signatories": json.dumps(data["signatories"]),
                "themes": json.dumps(data["themes"]),
                "signed_on": day(data["signed_on"]),
                "ends_on": optional_day(data.get("ends_on")),
                "envelope": optional_cents(data.get("envelope")),
                "ended_on": None,
                "version": change.version,
                "position": change.position,
            }
            self.new_conventions.add(cid)
            return
        on_event = ON_CONVENTION_EVENT.get(change.name)
        if on_event is None:
            return
        row = self._row(self.conventions, cid, "convention")
        row["version"] = change.version
        on_event(self, row, change)

    def _amended(self, row: Row, change: Change) -> None:
        data = change.data
        for field in ("title", "signatories", "themes"):
            if data.get(field) is not None:
                row[field] = data[field] if field == "title" else json.dumps(data[field])
        if data.get("ends_on") is not None:
            row["ends_on"] = day(data["ends_on"])
        if data.get("envelope") is not None:
            row["envelope"] = cents(data["envelope"])

    def _ended(self, row: Row, change: Change) -> None:
        row["ended_on"] = day(change.data["on"])

    def flush(self) -> None:
        """Write new rows with COPY and changed rows with one UPDATE each."""
        for rows, new, table, columns in (
            (self.projects, self.new_projects, self.projects_table, PROJECT_COLUMNS),
            (self.conventions, self.new_conventions, self.conventions_table, CONVENTION_COLUMNS),
        ):
            cur = self.cur
            cur.copy_rows(table, columns, [tuple(rows[k][c] for c in columns) for k in new])
            assignments = ", ".join(f"{c} = ?" for c in columns[1:])
            cur.executemany(
                f"UPDATE {self.db.table(table)} SET {assignments} WHERE {columns[0]} = ?",  # noqa: S608
                [
                    (*(row[c] for c in columns[1:]), key)
                    for key, row in rows.items()
                    if key not in new
                ],
            )
        if self.links:
            self.cur.copy_rows(
                self.links_table, ("project_id", "convention_id", "position"), self.links
            )
        self.cur.copy_rows(self.moves_table, MOVE_COLUMNS, self.moves, MOVE_TYPES)
        self.commitments.flush(self.cur)


def _place(row: Row, territory: str) -> None:
    p = place(territory)
    row.update(
        territory=p.territory,
        level=p.level,
        region=p.region,
        departement=p.departement,
        epci=p.epci,
        commune=p.commune,
        band=p.band,
    )


def apply_projects(
    db: ReadModelDatabase,
    cur: Cursor,
    generation: int,
    changes: Sequence[Change],
    bulk: bool,
) -> None:
    """Apply a page of changes to a generation of the `projects` read model."""
    ProjectsPage(db, cur, generation, bulk).apply(changes)


# What each event of a project but its identification does to the project's row.
ON_PROJECT_EVENT: dict[str, Callable[[ProjectsPage, Row, Change], None]] = {
    **dict.fromkeys(COMMITMENT_CREATED, ProjectsPage._committed),
    "FundsDisbursed": ProjectsPage._disbursed,
    "LoanRepaid": ProjectsPage._repaid,
    "CommitmentCancelled": ProjectsPage._cancelled,
    "CommitmentAmountCorrected": ProjectsPage._amount_corrected,
    "CommitmentVoided": undo.commitment_voided,
    "DisbursementReversed": undo.disbursement_reversed,
    "RepaymentReversed": undo.repayment_reversed,
    "ProjectDetailsCorrected": ProjectsPage._details_corrected,
    "ProjectLinkedToConvention": ProjectsPage._linked,
    "ProjectCompleted": ProjectsPage._completed,
    "ProjectAbandoned": ProjectsPage._abandoned,
    "ProjectVoided": undo.project_voided,
    "CommitmentDateCorrected": undo.date_corrected,
    "StudyDelivered": ProjectsPage._versioned,
    "ImpactIndicatorSet": ProjectsPage._versioned,
    "ImpactMeasured": ProjectsPage._versioned,
}
# The same in bulk, where the figures are summed at the end: what the event moved. The
# other events of ON_PROJECT_EVENT move nothing.
ON_PROJECT_EVENT_IN_BULK: dict[str, Callable[[ProjectsPage, Change], Moved | None]] = {
    **dict.fromkeys(COMMITMENT_CREATED, ProjectsPage._committed_in_bulk),
    "FundsDisbursed": ProjectsPage._disbursed_in_bulk,
    "LoanRepaid": ProjectsPage._repaid_in_bulk,
    "CommitmentCancelled": ProjectsPage._cancelled_in_bulk,
    "CommitmentAmountCorrected": ProjectsPage._amount_corrected_in_bulk,
    "CommitmentVoided": undo.commitment_voided_in_bulk,
    "DisbursementReversed": undo.disbursement_reversed_in_bulk,
    "CommitmentDateCorrected": undo.date_corrected_in_bulk,
    "RepaymentReversed": undo.repayment_reversed_in_bulk,
    **dict.fromkeys(DETAILS_CHANGED, ProjectsPage._details_in_bulk),
    "ProjectLinkedToConvention": ProjectsPage._linked_in_bulk,
}
# What each event of a convention but its signature does to the convention's row.
ON_CONVENTION_EVENT: dict[str, Callable[[ProjectsPage, Row, Change], None]] = {
    "ConventionAmended": ProjectsPage._amended,
    "ConventionEnded": ProjectsPage._ended,
}
TOPICS = frozenset(
    {
        *(PROJECT_TOPIC + name for name in (IDENTIFIED, *ON_PROJECT_EVENT)),
        *(PROJECT_TOPIC + name for name in ON_PROJECT_EVENT_IN_BULK),
        *(CONVENTION_TOPIC + name for name in (SIGNED, *ON_CONVENTION_EVENT)),
    }
)
