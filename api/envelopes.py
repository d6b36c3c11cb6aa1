"""Convention envelopes at write time: a write that leaves a convention's projects committing
more than its envelope is recorded, and its answer says so with an `over-envelope` warning.

What a convention's projects committed is summed as the read model holds the other projects
(they may trail the log by the projection lag) plus the written project as just recorded; a
project is looked at only once the read model holds it under a convention (or as it is
linked to one).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from domain import commands
from domain.application import Ledger
from domain.commands import Command
from projections.db import ReadModelDatabase
from projections.layout import generation_table
from projections.money import from_cents
from projections.reading import read_snapshot
from projections.registry import PROJECTS
from projections.sql import Cursor

# The writes that add to what a project commits, or place it under a convention.
COMMITTING: tuple[type[Command], ...] = (
    commands.GrantLoan,
    commands.InvestEquity,
    commands.LaunchStudy,
    commands.CorrectCommitmentAmount,
    commands.LinkToConvention,
)
OVER_ENVELOPE = "over-envelope"


def _others_committed(
    db: ReadModelDatabase, conventions: list[str], project_id: str
) -> dict[str, int]:
    """Return, per convention, what its other projects committed net (cents)."""
    marks = ", ".join("?" for _ in conventions)

    def query(cur: Cursor, generation: int) -> dict[str, int]:
        links = db.table(generation_table("project_conventions", generation))
        projects = db.table(generation_table("projects", generation))
        cur.execute(
            "SELECT l.convention_id, CAST(SUM(p.committed - p.cancelled) AS BIGINT) "  # noqa: S608
            f"FROM {links} l JOIN {projects} p ON p.project_id = l.project_id "
            f"WHERE l.convention_id IN ({marks}) AND l.project_id <> ? "
            "GROUP BY l.convention_id",
            [*conventions, project_id],
        )
        return {str(cid): int(net or 0) for cid, net in cur.fetchall()}

    return read_snapshot(db, PROJECTS, query)[0] or {}


def _linked(db: ReadModelDatabase, project_id: str) -> bool:
    """Whether the read model holds the project under some convention."""

    def query(cur: Cursor, generation: int) -> bool:
        links = db.table(generation_table("project_conventions", generation))
        cur.execute(f"SELECT 1 FROM {links} WHERE project_id = ? LIMIT 1", [project_id])  # noqa: S608
        return cur.fetchone() is not None

    return bool(read_snapshot(db, PROJECTS, query)[0])


def envelope_warnings(
    ledger: Ledger, read_models: ReadModelDatabase, command: Command, project_id: UUID
) -> list[dict[str, Any]]:
    """Return the `over-envelope` warnings of a write just recorded on a project."""
    if not isinstance(command, COMMITTING):
        return []
    # Most projects are under no convention: the read model says so without loading one.
    if not isinstance(command, commands.LinkToConvention) and not _linked(
        read_models, str(project_id)
    ):
        return []
    project = ledger.project(project_id)
    envelopes: dict[str, Decimal] = {}
    for convention_id in project.conventions:
        envelope = ledger.convention(convention_id).envelope
        if envelope is not None:
            envelopes[str(convention_id)] = envelope
    if not envelopes:
        return []
    own = sum((c.net_committed for c in project.commitments.values()), Decimal("0.00"))
    others = _others_committed(read_models, list(envelopes), str(project_id))
    warnings: list[dict[str, Any]] = []
    for key, envelope in envelopes.items():
        committed = from_cents(others.get(key, 0)) + own
        if committed > envelope:
            warnings.append(
                {
                    "code": OVER_ENVELOPE,
                    "convention": key,
                    "envelope": envelope,
                    "committed": committed,
                    "detail": f"the projects of convention {key} now commit "
                    f"{committed:.2f}, more than its envelope of {envelope:.2f}: recorded",
                }
            )
    return warnings
