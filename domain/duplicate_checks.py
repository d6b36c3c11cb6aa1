"""The ledger's side of possible duplicates: the earlier twin of a write, named.

The rules are in `domain.duplicates`; the facts compared are those the project remembers
(`Project.recent_facts`: its money facts of the last day, kept as its events are applied,
so a project the repository caches answers without a read). This mixin of the Ledger
names the earlier write, with its log position, in the refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    def _refuse_twin(self, project: Project, pending: Sequence[object]) -> None:
        """Refuse facts that repeat one of the project's last 24 hours, or one recorded by
        an earlier command of the same batch (the project remembers both)."""
        twin = earlier_twin(project, pending, reversed(project.recent_facts))
        if twin is None:
            return
        earlier = twin[1]
        version: int = getattr(earlier, "originator_version")  # noqa: B009
        saved = all(earlier is not event for event in project.pending_events)
        position = self.positions.event_positions(project.id).get(version) if saved else None
        raise possible_duplicate(twin, project.id, position)
