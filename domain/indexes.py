"""Index aggregates: a deterministic id per unique key, so the store itself refuses duplicates."""

from __future__ import annotations

from dataclasses import field
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class ProjectReference(Aggregate):
    """Claims a directorate's project reference for one project: saved with the project."""

    class Event(Aggregate.Event):
        """Base of the index events."""

        meta: dict[str, str] = field(default_factory=dict, kw_only=True)

    class ReferenceClaimed(Event, Aggregate.Created):
        project_id: UUID

    @staticmethod
    def key(directorate: str, reference: str) -> UUID:
        """Return the index id of a directorate's reference."""
        return uuid5(NAMESPACE_URL, f"funding-tracker:project-reference:{directorate}:{reference}")

    @event(ReferenceClaimed)
    def __init__(self, project_id: UUID) -> None:
        self.project_id = project_id

    @classmethod
    def claim(cls, directorate: str, reference: str, project_id: UUID) -> ProjectReference:
        """Claim a reference for a project."""
        return cls._create(
            cls.ReferenceClaimed, id=cls.key(directorate, reference), project_id=project_id
        )
