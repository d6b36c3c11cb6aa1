"""The ledger's side of possible duplicates: what it reads to find an earlier twin.

The rules are in `domain.duplicates`; this mixin of the Ledger reads the project's recent
events and names the earlier write in the refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from domain.duplicates import earlier_twin, possible_duplicate
from domain.positions import EventPositions
from domain.project import Project

if TYPE_CHECKING:
    from eventsourcing.application import Application

    Base = Application[UUID]
else:
    Base = object


class DuplicateChecks(Base):
    """Finds the earlier twin of a write, for the Ledger (see `domain.duplicates`)."""

    positions: EventPositions

    def _refuse_twin(
        self, project: Project, pending: Sequence[object], batch: Iterable[object] = ()
    ) -> None:
        """Refuse facts that repeat one of the project's last 24 hours (or earlier in `batch`,
        the facts a batch recorded before them, newest first)."""
        stored = self.events.get(project.id, desc=True)
        twin = earlier_twin(project, pending, [*batch, *stored])
        if twin is None:
            return
        earlier = twin[1]
        version: int = getattr(earlier, "originator_version")  # noqa: B009
        position = self.positions.event_positions(project.id).get(version)
        raise possible_duplicate(twin, project.id, position)
