"""The `totals` read model: one fact per money movement, and cubes by year and by month.

Every fact carries its project's dimensions, so a project that moves (territory, theme,
programme, cost known or not, first convention) has all its facts and cube rows moved in
SQL, within the page's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from operator import add, itemgetter
from typing import Any

from projections.db import ReadModelDatabase
from projections.events import (
    COMMITMENT_CREATED,
    Change,
    cents,
    day,
    optional_cents,
    uuid_text,
)
from projections.schema import (
    CUBES,
    FACT_COLUMNS,
    FACT_TYPES,
    MEASURES,
    PROJECT_DIMENSIONS,
    TOTALS,
    generation_table,
)
from projections.sql import Cursor, Dialect
from projections.state import (
    NONE,
    CommitmentBook,
    CommitmentState,
    UnknownAggregateError,
    periods,
    place,
    unappliable,
)

# Positions of the measures in a measures tuple (the order of MEASURES).
COMMITTED, CANCELLED, DISBURSED, REPAID, OUTSTANDING, ESTIMATED_COST, PROJECTS, COMMITMENTS = range(
    len(MEASURES)
)
# Positions of a few dimensions in ProjectDims.dims (the order of PROJECT_DIMENSIONS).
THEME = PROJECT_DIMENSIONS.index("theme")
CONVENTION = PROJECT_DIMENSIONS.index("convention")
DIM_COLUMNS = ", ".join(PROJECT_DIMENSIONS)
PERIODS = ("instrument", "year", "quarter", "month")
MOVE_CHUNK = 500
# An ISO date as a date, for the binary COPY of the facts on PostgreSQL.
dated = cache(date.fromisoformat)


@dataclass(frozen=True, slots=True)
class CubeSpec:
    """A cube: its key's project part (dimensions of the project) and whether it is monthly."""

    name: str
    key: tuple[str, ...]
    base: tuple[str, ...]  # the key's columns that are project dimensions
    monthly: bool

    @property
    def base_indices(self) -> tuple[int, ...]:
        """Where the base columns sit in ProjectDims.dims."""
        return tuple(PROJECT_DIMENSIONS.index(column) for column in self.base)


CUBE_SPECS = tuple(
    CubeSpec(name, key, tuple(k for k in key if k not in PERIODS), "month" in key)
    for name, key in CUBES.items()
)
BASE_INDICES = tuple(spec.base_indices for spec in CUBE_SPECS)
# A page sums its facts once, by a fine key holding every column of every cube's key, then
# rolls those sums up into each cube.
FINE_BASE = tuple(c for c in PROJECT_DIMENSIONS if any(c in spec.base for spec in CUBE_SPECS))
FINE_BASE_OF = itemgetter(*(PROJECT_DIMENSIONS.index(column) for column in FINE_BASE))
FINE_KEY = (*FINE_BASE, *PERIODS)
ROLL_UPS = tuple(
    itemgetter(*(FINE_KEY.index(column) for column in spec.key)) for spec in CUBE_SPECS
)


@dataclass(slots=True)
class ProjectDims:
    """A project's dimensions as its facts carry them, and its estimated cost."""

    dims: tuple[Any, ...]  # in the order of PROJECT_DIMENSIONS
    estimated_cost: int | None
    _bases: tuple[tuple[Any, ...], ...] | None = field(default=None, init=False, compare=False)

    @property
    def bases(self) -> tuple[tuple[Any, ...], ...]:
        """The project's part of each cube's key, in the order of CUBE_SPECS."""
        if self._bases is None:
            d = self.dims
            self._bases = tuple(tuple(d[i] for i in indices) for indices in BASE_INDICES)
        return self._bases

    @property
    def territory(self) -> str:
        """The finest territory code among the dimensions: the project's own territory."""
        region, departement, epci, commune = self.dims[:4]
        return str(commune or epci or departement or region)


def project_dims(
    territory: str,
    theme: str,
    programme: str,
    directorate: str,
    convention: str,
    estimated_cost: int | None,
) -> ProjectDims:
    """Return the dimensions of a project from its details."""
    p = place(territory)
    return ProjectDims(
        (
            p.region,
            p.departement,
            p.epci,
            p.commune,
            p.band,
            theme,
            programme,
            directorate,
            convention,
            0 if estimated_cost is None else 1,
        ),
        estimated_cost,
    )


class TotalsPage:
    """Applies one page of changes to a generation of `totals`, inside one transaction.

    In `bulk` (a generation being rebuilt, see `schema.settle`) the page writes the facts
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
            if change.name == "ProjectIdentified":
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
        self._apply_moves()

    def _project(self, project_id: str) -> ProjectDims:
        try:
            return self.projects[project_id]
        except KeyError:
            raise UnknownAggregateError(
                f"project {project_id} was never identified in this read model"
            ) from None

    def _apply(self, change: Change) -> None:
        name = change.name
        data = change.data
        pid = change.aggregate_id
        if name in COMMITMENT_CREATED:
            date_field, instrument = COMMITMENT_CREATED[name]
            cid = change.commitment
            amount = cents(data["amount"])
            on = day(data[date_field])
            self.commitments.add(cid, CommitmentState(pid, instrument, on, amount))
            self._fact(change, cid, "committed", instrument, on, COMMITTED, amount, commitments=1)
        elif name == "FundsDisbursed":
            cid = change.commitment
            commitment = self.commitments.get(cid, pid)
            amount = cents(data["amount"])
            measures = [0] * len(MEASURES)
            measures[DISBURSED] = amount
            if commitment.instrument == "loan":
                measures[OUTSTANDING] = amount
            self._emit(
                change, cid, "disbursed", commitment.instrument, day(data["disbursed_on"]), measures
            )
        elif name == "LoanRepaid":
            cid = change.commitment
            commitment = self.commitments.get(cid, pid)
            amount = cents(data["principal"])
            measures = [0] * len(MEASURES)
            measures[REPAID] = amount
            measures[OUTSTANDING] = -amount
            self._emit(
                change, cid, "repaid", commitment.instrument, day(data["repaid_on"]), measures
            )
        elif name == "CommitmentCancelled":
            cid = change.commitment
            commitment = self.commitments.get(cid, pid)
            self._fact(
                change,
                cid,
                "cancelled",
                commitment.instrument,
                day(data["cancelled_on"]),
                CANCELLED,
                cents(data["amount"]),
            )
        elif name == "CommitmentAmountCorrected":
            cid = change.commitment
            commitment = self.commitments.get(cid, pid)
            amount = cents(data["amount"])
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
        elif name == "StudyDelivered":
            # Moves no money, but only under a commitment of the project's own.
            self.commitments.get(change.commitment, pid)
        elif name == "ProjectIdentified":
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
        elif name == "ProjectDetailsCorrected":
            self._correct(pid, data)
        elif name == "ProjectLinkedToConvention":
            project = self._project(pid)
            if project.dims[CONVENTION] == NONE:
                linked = list(project.dims)
                linked[CONVENTION] = uuid_text(data["convention_id"])
                self._move(pid, ProjectDims(tuple(linked), project.estimated_cost))

    def _correct(self, pid: str, data: dict[str, Any]) -> None:
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

    def _apply_moves(self) -> None:
        """Move all the facts of the projects that moved, and their sums in the cubes.

        Runs after the page's rows are written, whatever dimensions each fact was written
        under: the cubes lose each fact's sums under its current key and gain them under the
        project's final one.
        """
        if not self.moved:
            return
        assignments = ", ".join(f"{d} = ?" for d in PROJECT_DIMENSIONS)
        facts = self.db.table(self.facts)
        project_ids = list(self.moved)
        if not self.bulk:
            self._shift_cubes(project_ids, -1)
        self.cur.executemany(
            f"UPDATE {facts} SET {assignments} WHERE project_id = ?",  # noqa: S608
            [(*moved.dims, project_id) for project_id, moved in self.moved.items()],
        )
        self.cur.executemany(
            f"UPDATE {facts} SET estimated_cost = ? "  # noqa: S608
            "WHERE project_id = ? AND kind = 'identified'",
            [(moved.estimated_cost or 0, project_id) for project_id, moved in self.moved.items()],
        )
        if self.bulk:
            self.cur.executemany(
                f"UPDATE {self.db.table(self.dims_table)} "  # noqa: S608
                f"SET {assignments}, estimated_cost = ? WHERE project_id = ?",
                [
                    (*moved.dims, moved.estimated_cost or 0, project_id)
                    for project_id, moved in self.moved.items()
                ],
            )
            self.moved.clear()
            self.stale.clear()
            return
        self._shift_cubes(project_ids, 1)
        # A cube row with facts always has a non-zero measure: a zero row is a moved-out group.
        zero = " AND ".join(f"{m} = 0" for m in MEASURES)
        for i, (cube, spec) in enumerate(zip(self.cubes, CUBE_SPECS, strict=True)):
            where = " AND ".join(f"{column} = ?" for column in spec.base)
            self.cur.executemany(
                f"DELETE FROM {self.db.table(cube)} WHERE {where} AND {zero}",  # noqa: S608
                sorted({before.bases[i] for before in self.stale}),
            )
        self.moved.clear()
        self.stale.clear()

    def _shift_cubes(self, project_ids: list[str], sign: int) -> None:
        """Add (sign 1) or take away (sign -1) the projects' facts from every cube."""
        sums = ", ".join(f"{'-' if sign < 0 else ''}SUM({m})" for m in MEASURES)
        measures = ", ".join(MEASURES)
        updates = ", ".join(f"{m} = t.{m} + excluded.{m}" for m in MEASURES)
        for start in range(0, len(project_ids), MOVE_CHUNK):
            chunk = project_ids[start : start + MOVE_CHUNK]
            marks = ", ".join("?" * len(chunk))
            for cube, spec in zip(self.cubes, CUBE_SPECS, strict=True):
                keys = ", ".join(spec.key)
                self.cur.execute(
                    f"INSERT INTO {self.db.table(cube)} AS t ({keys}, {measures}) "  # noqa: S608
                    f"SELECT {keys}, {sums} FROM {self.db.table(self.facts)} "
                    f"WHERE project_id IN ({marks}) GROUP BY {keys} "
                    f"ON CONFLICT ({keys}) DO UPDATE SET {updates}",
                    chunk,
                )

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


NAME = TOTALS
