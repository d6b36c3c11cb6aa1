"""One meaning per figure: a project's figures are the sums of its commitments', everywhere."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from uuid import UUID

from api.answers.reads import ProjectOut
from domain.application import Ledger
from projections.db import ReadModelDatabase
from projections.projects.queries import project_row

FIGURES = (
    "committed",
    "cancelled",
    "net_committed",
    "disbursed",
    "to_disburse",
    "repaid",
    "outstanding",
)


def assert_projects_sum_their_commitments(
    ledger: Ledger, db: ReadModelDatabase, project_ids: Iterable[UUID]
) -> int:
    """Check every figure of every project, read model and API answer; return how many."""
    checked = 0
    for project_id in project_ids:
        project = ledger.project(project_id)
        answer = ProjectOut.of(project)
        sums = {
            figure: sum(
                (
                    getattr(c, "amount" if figure == "committed" else figure)
                    for c in answer.commitments
                ),
                Decimal("0.00"),
            )
            for figure in FIGURES
        }
        sums["commitments"] = len(answer.commitments)
        row = project_row(db, project_id)
        figures = answer.figures.model_dump()
        for figure, total in sums.items():
            assert row[figure] == total, (project_id, figure, row[figure], total)
            assert figures[figure] == total, (project_id, figure, figures[figure], total)
        checked += 1
    return checked
