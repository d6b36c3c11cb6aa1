"""The `projects` read model: each project's current details, status and figures; conventions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from projections.db import ReadModelDatabase
from projections.events import (
    COMMITMENT_CREATED,
    Change,
    cents,
    day,
    optional_cents,
    optional_day,
    uuid_text,
)
from projections.schema import CONVENTION_COLUMNS, PROJECT_COLUMNS, PROJECTS, generation_table
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
# The events that change a project's row but its figures.
DETAILS_CHANGED = frozenset({"ProjectDetailsCorrected", "ProjectCompleted", "ProjectAbandoned"})
MOVE_COLUMNS = (
    "project_id",
    "commitment_id",
    "version",
    "position",
    "cancelled",
    "disbursed",
    "repaid",
)
MOVE_TYPES = ("text", "text", "int4", "int8", "int8", "int8", "int8")


class ProjectsPage:
    """Applies one page of changes to a generation of `projects`, inside one transaction.

    In `bulk` (a generation being rebuilt, see `schema.settle`) the page neither reads nor
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
                if change.name != "ProjectIdentified":
                    projects.add(change.aggregate_id)
            elif change.name != "ConventionSigned":
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
                elif bulk and change.name != "ProjectIdentified":
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
        name = change.name
        data = change.data
        pid = change.aggregate_id
        if name == "ProjectIdentified":
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
            return
        row = self._row(self.projects, pid, "project")
        row["version"] = change.version
        row["updated_position"] = change.position
        if change.commitment_id is not None and name not in COMMITMENT_CREATED:
            # Only under a commitment of the project's own.
            self.commitments.get(change.commitment_id, pid)
        if name in COMMITMENT_CREATED:
            date_field, instrument = COMMITMENT_CREATED[name]
            amount = cents(data["amount"])
            self.commitments.add(
                change.commitment,
                CommitmentState(pid, instrument, day(data[date_field]), amount),
            )
            row["committed"] += amount
            row["commitments"] += 1
        elif name == "FundsDisbursed":
            commitment = self.commitments.get(change.commitment, pid)
            amount = cents(data["amount"])
            row["disbursed"] += amount
            if commitment.instrument == "loan":
                row["outstanding"] += amount
        elif name == "LoanRepaid":
            amount = cents(data["principal"])
            row["repaid"] += amount
            row["outstanding"] -= amount
        elif name == "CommitmentCancelled":
            row["cancelled"] += cents(data["amount"])
        elif name == "CommitmentAmountCorrected":
            cid = change.commitment
            amount = cents(data["amount"])
            row["committed"] += amount - self.commitments.get(cid, pid).amount
            self.commitments.set_amount(cid, pid, amount)
        elif name == "ProjectDetailsCorrected":
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
        elif name == "ProjectLinkedToConvention":
            self.links.append((pid, uuid_text(data["convention_id"]), change.position))
        elif name == "ProjectCompleted":
            row["status"] = "completed"
            row["closed_on"] = day(data["on"])
        elif name == "ProjectAbandoned":
            row["status"] = "abandoned"
            row["closed_on"] = day(data["on"])

    def _apply_bulk(self, change: Change) -> None:
        """Apply a project's event in bulk: remember what it moved."""
        name = change.name
        data = change.data
        cancelled = disbursed = repaid = 0
        commitment_id = None
        if change.commitment_id is not None and name not in COMMITMENT_CREATED:
            # Only under a commitment of the project's own.
            self.commitments.get(change.commitment_id, change.aggregate_id)
        if name in COMMITMENT_CREATED:
            date_field, instrument = COMMITMENT_CREATED[name]
            self.commitments.add(
                change.commitment,
                CommitmentState(
                    change.aggregate_id, instrument, day(data[date_field]), cents(data["amount"])
                ),
            )
        elif name == "FundsDisbursed":
            commitment_id = change.commitment
            disbursed = cents(data["amount"])
        elif name == "LoanRepaid":
            repaid = cents(data["principal"])
        elif name == "CommitmentCancelled":
            cancelled = cents(data["amount"])
        elif name == "CommitmentAmountCorrected":
            self.commitments.set_amount(
                change.commitment, change.aggregate_id, cents(data["amount"])
            )
        elif name in DETAILS_CHANGED:
            self._apply_project(change)
        elif name == "ProjectLinkedToConvention":
            self.links.append(
                (change.aggregate_id, uuid_text(data["convention_id"]), change.position)
            )
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

    def _apply_convention(self, change: Change) -> None:
        data = change.data
        cid = change.aggregate_id
        if change.name == "ConventionSigned":
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
        row = self._row(self.conventions, cid, "convention")
        row["version"] = change.version
        if change.name == "ConventionAmended":
            for field in ("title", "signatories", "themes"):
                if data.get(field) is not None:
                    row[field] = data[field] if field == "title" else json.dumps(data[field])
            if data.get("ends_on") is not None:
                row["ends_on"] = day(data["ends_on"])
            if data.get("envelope") is not None:
                row["envelope"] = cents(data["envelope"])
        elif change.name == "ConventionEnded":
            row["ended_on"] = day(data["on"])

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


NAME = PROJECTS
