"""The totals of many territories at once: one grouped question per level, not one per
territory (a territory's totals are those of its projects and of every territory below it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.reference.territories import Territory
from projections.db import ReadModelDatabase
from projections.reading import figures
from projections.totals.queries import SUMS, totals


def territories_totals(
    db: ReadModelDatabase, territories: Sequence[Territory]
) -> tuple[dict[str, dict[str, Any]], int]:
    """Return each territory's totals by code (zeros without projects) and the position of
    the oldest answer read (each level is read in a snapshot of its own)."""
    found: dict[str, dict[str, Any]] = {}
    positions: list[int] = []
    for level in sorted({t.level.value for t in territories}):
        answer = totals(db, [level])
        positions.append(answer.position)
        wanted = {t.code for t in territories if t.level.value == level}
        for row in answer.rows:
            if row[level] in wanted:
                found[row[level]] = {k: v for k, v in row.items() if k != level}
    zero = figures([0] * len(SUMS))
    return {t.code: found.get(t.code, zero) for t in territories}, min(positions, default=0)
