"""How events change the `totals` read model: one fact per money movement, summed in cubes.

Every fact carries its project's dimensions, so a project that moves (territory, theme,
programme, cost known or not, first convention) has all its facts and cube rows moved in
SQL, within the page's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from functools import cache
from operator import add
from typing import Any

from projections.db import ReadModelDatabase
from projections.events import (
    COMMITMENT_CREATED,
    IDENTIFIED,
    PROJECT_TOPIC,
    Change,
    cents,
    day,
    optional_cents,
    uuid_text,
)
from projections.layout import generation_table
from projections.sql import Cursor, Dialect
from projections.state import (
    NONE,
    CommitmentBook,
    CommitmentState,
    UnknownAggregateError,
    periods,
    unappliable,
)
from projections.totals import undo
from projections.totals.dimensions import (
    CUBE_SPECS,
    FINE_BASE_OF,
    ROLL_UPS,
    ProjectDims,
    project_dims,
)
from projections.totals.moves import move_facts
from projections.totals.tables import FACT_COLUMNS, FACT_TYPES, MEASURES, PROJECT_DIMENSIONS

# Positions of the measures in a measures tuple (the order of MEASURES).
COMMITTED, CANCELLED, DISBURSED, REPAID, OUTSTANDING, ESTIMATED_COST, PROJECTS, COMMITMENTS = range(
    len(MEASURES)
)
# Positions of a few dimensions in ProjectDims.dims (the order of PROJECT_DIMENSIONS).
THEME = PROJECT_DIMENSIONS.index("theme")
CONVENTION = PROJECT_DIMENSIONS.index("convention")
DIM_COLUMNS = ", ".join(PROJECT_DIMENSIONS)
# An ISO date as a date, for the binary COPY of the facts on PostgreSQL.
dated = cache(date.fromisoformat)


class TotalsPage:
    """Applies one page of changes to a generation of `totals`, inside one transaction.

    In `bulk` (a generation being rebuilt, see `generations.settle`) the page writes the facts
    and the commitments but leaves the cubes alone: they are summed from the facts at the end.
    It keeps each project's dimensions in a scratch table of their own, one row a project,
    instead of finding them among the facts.
    """

    def __init__(
        self, db: ReadModelDatabase, cur: Cursor, generation: int, bulk: bool = False
    ) -> None:
        self.db = db
        self.cur = cur
        self.bulk = bulk
        self.binary = db.dialect is Dialect.POSTGRES
        self.facts = generation_table("facts", generation)
        self.cubes = [generation_table(spec.name, generation) for spec in CUBE_SPECS]
        self.commitments = CommitmentBook(db, generation_table("totals_commitments", generation))
        self.projects: dict[str, ProjectDims] = {}
        self.rows: list[tuple[Any, ...]] = []
        # The page's sums by key of the finest cube.
        self.deltas: dict[tuple[Any, ...], list[int]] = {}
        self.moved: dict[str, ProjectDims] = {}
        self.stale: list[ProjectDims] = []
        self.dims_table = generation_table("totals_projects", generation)
        self.created: list[str] = []

    # Loading -------------------------------------------------------------------------------

    def load(self, changes: Sequence[Change]) -> None:
        """Read the state of the projects and commitments the page touches but did not create."""
        created: set[str] = set()
        touched: set[str] = set()
        commitments: set[str] = set()
        for change in changes:
            if change.aggregate != "project":
                continue
            if change.name == IDENTIFIED:
                created.add(change.aggregate_id)
            elif change.aggregate_id not in created:
                touched.add(change.aggregate_id)
            if change.commitment_id is not None:
                # Created ones too: an id already held elsewhere is refused, not overwritten.
                commitments.add(change.commitment_id)
        if touched:
            rows = self.cur.select_in(
                (
                    f"SELECT project_id, {DIM_COLUMNS}, estimated_cost "  # noqa: S608
                    f"FROM {self.db.table(self.dims_table)} WHERE project_id IN ({{}})"
                )
                if self.bulk
                else (
                    f"SELECT project_id, {DIM_COLUMNS}, estimated_cost "  # noqa: S608
                    f"FROM {self.db.table(self.facts)} "
                    "WHERE kind = 'identified' AND project_id IN ({})"
                ),
                touched,
            )
            for project_id, *values, cost in rows:
                costed = int(values[-1])
                values[-1] = costed
                self.projects[project_id] = ProjectDims(
                    tuple(values), int(cost) if costed else None
                )
        self.commitments.load(self.cur, commitments)

    # Applying ------------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change]) -> None:
        """Apply the changes in log order, then write what remains pending.

        An event that cannot be applied raises UnappliableEventError, naming it.
        """
        self.load(changes)
        for change in changes:
            if change.aggregate == "project":
                try:
                    self._apply(change)
                except Exception as error:
                    raise unappliable(change, error) from error
        self.flush()
        move_facts(self)

    def _project(self, project_id: str) -> ProjectDims:
        try:
            return self.projects[project_id]
        except KeyError:
            raise UnknownAggregateError(
                f"project {project_id} was never identified in this read model"
            ) from None

    def _apply(self, change: Change) -> None:
        on_event = ON_PROJECT_EVENT.get(change.name)
        if on_event is not None:
            on_event(self, change)

    def _committed(self, change: Change) -> None:
        date_field, instrument = COMMITMENT_CREATED[change.name]
        cid = change.commitment
        amount = cents(change.data["amount"])
        on = day(change.data[date_field])
        self.commitments.add(cid, CommitmentState(change.aggregate_id, instrument, on, amount))
        self._fact(change, cid, "committed", instrument, on, COMMITTED, amount, commitments=1)

    def _disbursed(self, change: Change) -> None:
        cid = change.commitment
        commitment = self.commitments.get(cid, change.aggregate_id)
        amount = cents(change.data["amount"])
        measures = [0] * len(MEASURES)
        measures[DISBURSED] = amount
        if commitment.instrument == "loan":
            measures[OUTSTANDING] = amount
        self._emit(
            change,
            cid,
            "disbursed",
            commitment.instrument,
            day(change.data["disbursed_on"]),
            measures,
        )

    def _repaid(self, change: Change) -> None:
        cid = change.commitment
        commitment = self.commitments.get(cid, change.aggregate_id)
        amount = cents(change.data["principal"])
        measures = [0] * len(MEASURES)
        measures[REPAID] = amount
        measures[OUTSTANDING] = -amount
        self._emit(
            change, cid, "repaid", commitment.instrument, day(change.data["repaid_on"]), measures
        )

    def _cancelled(self, change: Change) -> None:
        cid = change.commitment
        commitment = self.commitments.get(cid, change.aggregate_id)
        self._fact(
            change,
            cid,
            "cancelled",
            commitment.instrument,
            day(change.data["cancelled_on"]),
            CANCELLED,
            cents(change.data["amount"]),
        )

    def _amount_corrected(self, change: Change) -> None:
        cid = change.commitment
        pid = change.aggregate_id
        commitment = self.commitments.get(cid, pid)
        amount = cents(change.data["amount"])
        delta = amount - commitment.amount
        self.commitments.set_amount(cid, pid, amount)
        # A recording error: the difference counts at the commitment's own date.
        self._fact(
            change,
            cid,
            "corrected",
            commitment.instrument,
            commitment.committed_on,
            COMMITTED,
            delta,
        )

    def _delivered(self, change: Change) -> None:
        # Moves no money, but only under a commitment of the project's own.
        self.commitments.get(change.commitment, change.aggregate_id)

    def _identified(self, change: Change) -> None:
        data = change.data
        pid = change.aggregate_id
        cost = optional_cents(data["estimated_cost"])
        dims = project_dims(
            data["territory"],
            data["theme"],
            data["programme"] or NONE,
            data["directorate"],
            NONE,
            cost,
        )
        self.projects[pid] = dims
        self.created.append(pid)
        measures = [0] * len(MEASURES)
        measures[PROJECTS] = 1
        measures[ESTIMATED_COST] = cost or 0
        self._emit(change, None, "identified", NONE, day(data["identified_on"]), measures)

    def _linked(self, change: Change) -> None:
        pid = change.aggregate_id
        project = self._project(pid)
        if project.dims[CONVENTION] == NONE:
            linked = list(project.dims)
            linked[CONVENTION] = uuid_text(change.data["convention_id"])
            self._move(pid, ProjectDims(tuple(linked), project.estimated_cost))

    def _details_corrected(self, change: Change) -> None:
        pid = change.aggregate_id
        data = change.data
        project = self._project(pid)
        cleared = data.get("cleared") or ()
        theme, programme, directorate, convention = project.dims[THEME : CONVENTION + 1]
        territory = data.get("territory") or project.territory
        theme = data.get("theme") or theme
        if data.get("programme") is not None:
            programme = data["programme"]
        if "programme" in cleared:
            programme = NONE
        cost = project.estimated_cost
        if data.get("estimated_cost") is not None:
            cost = cents(data["estimated_cost"])
        if "estimated_cost" in cleared:
            cost = None
        moved = project_dims(territory, theme, programme, directorate, convention, cost)
        if moved != project:
            self._move(pid, moved)

    def _fact(
        self,
        change: Change,
        commitment_id: str | None,
        kind: str,
        instrument: str,
        on: str,
        measure: int,
        amount: int,
        commitments: int = 0,
    ) -> None:
        measures = [0] * len(MEASURES)
        measures[measure] = amount
        measures[COMMITMENTS] = commitments
        self._emit(change, commitment_id, kind, instrument, on, measures)

    def _emit(
        self,
        change: Change,
        commitment_id: str | None,
        kind: str,
        instrument: str,
        on: str,
        measures: list[int],
    ) -> None:
        project = self._project(change.aggregate_id)
        year, quarter, month = periods(on)
        self.rows.append(
            (
                change.position,
                change.aggregate_id,
                commitment_id,
                kind,
                instrument,
                dated(on) if self.binary else on,
                year,
                quarter,
                month,
                *project.dims,
                *measures,
            )
        )
        if self.bulk:
            return
        key = (*FINE_BASE_OF(project.dims), instrument, year, quarter, month)
        total = self.deltas.get(key)
        self.deltas[key] = measures if total is None else list(map(add, total, measures))

    # Moving a project ----------------------------------------------------------------------

    def _move(self, project_id: str, moved: ProjectDims) -> None:
        """Give a project new dimensions; its stored facts follow once the page is written."""
        self.stale.append(self._project(project_id))
        self.projects[project_id] = moved
        self.moved[project_id] = moved

    # Writing -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the pending facts, cube deltas and commitments."""
        if self.rows:
            self.cur.copy_rows(
                self.facts, FACT_COLUMNS, self.rows, FACT_TYPES if self.binary else None
            )
            self.rows = []
        if self.bulk and self.created:
            # Their dimensions at the end of the page (moves within it included).
            self.cur.copy_rows(
                self.dims_table,
                ("project_id", *PROJECT_DIMENSIONS, "estimated_cost"),
                [
                    (pid, *dims.dims, dims.estimated_cost or 0)
                    for pid in self.created
                    for dims in (self.projects[pid],)
                ],
            )
            self.created = []
        if self.deltas:
            for cube, spec, roll_up in zip(self.cubes, CUBE_SPECS, ROLL_UPS, strict=True):
                sums_by_key: dict[tuple[Any, ...], list[int]] = {}
                for fine, sums in self.deltas.items():
                    key = roll_up(fine)
                    total = sums_by_key.get(key)
                    sums_by_key[key] = sums if total is None else list(map(add, total, sums))
                rows = [(*key, *sums) for key, sums in sums_by_key.items() if any(sums)]
                self.cur.add_rows(cube, spec.key, MEASURES, rows)
            self.deltas = {}
        self.commitments.flush(self.cur)


def apply_totals(
    db: ReadModelDatabase, cur: Cursor, generation: int, changes: Sequence[Change], bulk: bool
) -> None:
    """Apply a page of changes to a generation of the `totals` read model."""
    TotalsPage(db, cur, generation, bulk).apply(changes)


# What each project event the read model reads does to a page; it ignores the others.
ON_PROJECT_EVENT: dict[str, Callable[[TotalsPage, Change], None]] = {
    IDENTIFIED: TotalsPage._identified,
    "ProjectDetailsCorrected": TotalsPage._details_corrected,
    "ProjectLinkedToConvention": TotalsPage._linked,
    **dict.fromkeys(COMMITMENT_CREATED, TotalsPage._committed),
    "FundsDisbursed": TotalsPage._disbursed,
    "LoanRepaid": TotalsPage._repaid,
    "CommitmentCancelled": TotalsPage._cancelled,
    "CommitmentAmountCorrected": TotalsPage._amount_corrected,
    "StudyDelivered": TotalsPage._delivered,
    "CommitmentVoided": undo.commitment_voided,
    "ProjectVoided": undo.project_voided,
    "CommitmentDateCorrected": undo.date_corrected,
    "DisbursementReversed": undo.disbursement_reversed,
    "RepaymentReversed": undo.repayment_reversed,
}
TOPICS = frozenset(PROJECT_TOPIC + name for name in ON_PROJECT_EVENT)
