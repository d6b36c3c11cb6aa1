"""What an as-at report answers: totals, the instant they are as at and the log they cover."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.answers.reads import TotalsOut
from projections.asat import AsAtTotals


class AsAtTotalsOut(TotalsOut):
    """Totals of the events recorded up to `as_at`; `position` is the last one's."""

    as_at: datetime = Field(description="The instant used, in UTC.")
    as_at_paris: datetime = Field(description="The same instant in Europe/Paris time.")
    tree_size: int = Field(
        description="How many events of the log were recorded up to `as_at` (a prefix of "
        "the log: the audit Merkle tree of that size)."
    )
    final: bool = Field(
        description="True when an event recorded after `as_at` already follows them in the "
        "log: no later write can change this answer."
    )

    @classmethod
    def of(cls, report: AsAtTotals) -> AsAtTotalsOut:
        """The answer of a report."""
        cut = report.cut
        return cls.model_validate(
            {
                "rows": report.totals.rows,
                "total": report.totals.total,
                "position": cut.position,
                "as_at": cut.at,
                "as_at_paris": cut.at_paris,
                "tree_size": cut.tree_size,
                "final": cut.final,
            }
        )
