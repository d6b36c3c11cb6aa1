"""The ledger's side of possible duplicates: what it reads to find an earlier twin.

The rules are in `domain.duplicates`; this mixin of the Ledger reads the project's recent
events and names the earlier write in the refusal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.duplicates import Twins, earlier_twin, fields_of, possible_duplicate
from domain.errors import PossibleDuplicateError
from domain.positions import EventPositions
from domain.project import Project

if TYPE_CHECKING:
    from eventsourcing.application import Application

    Base = Application[UUID]
else:
    Base = object


# Events read at once when looking back over a project's day.
PAGE = 50


class DuplicateChecks(Base):
    """Finds the earlier twin of a write, for the Ledger (see `domain.duplicates`)."""

    positions: EventPositions

    def _refuse_twin(self, project: Project, pending: Sequence[object]) -> None:
        """Refuse facts that repeat one of the project's last 24 hours."""
        if not any(fields_of(fact) is not None for fact in pending):
            return
        twin = earlier_twin(project, pending, self._newest_first(project.id))
        if twin is not None:
            raise self._named(project, twin)

    def _twins_in_batch(
        self, project: Project, twins: dict[UUID, Twins], pending: Sequence[object]
    ) -> None:
        """Refuse a batch's facts that repeat one of the project's last 24 hours, or one of
        the batch's earlier commands; else remember them for the commands after."""
        if project.id not in twins:
            now = datetime.now(UTC)
            twins[project.id] = Twins(self._newest_first(project.id), now)
        found = twins[project.id].twin(project, pending)
        if found is not None:
            raise self._named(project, found)
        twins[project.id].add(pending)

    def _newest_first(self, project_id: UUID) -> Iterator[object]:
        """The project's stored events, newest first, read a page at a time: the check stops
        at the first one older than a day, so a long history is not read."""
        below: int | None = None
        while True:
            page = list(self.events.get(project_id, lte=below, desc=True, limit=PAGE))
            yield from page
            if len(page) < PAGE:
                return
            below = page[-1].originator_version - 1

    def _named(self, project: Project, twin: tuple[object, object]) -> PossibleDuplicateError:
        """The refusal, with the earlier fact's log position (None: earlier in the batch)."""
        version: int = getattr(twin[1], "originator_version")  # noqa: B009
        positions = self.positions.event_positions(project.id)
        position = positions.get(version) if twin[1] not in project.pending_events else None
        return possible_duplicate(twin, project.id, position)
