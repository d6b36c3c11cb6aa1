"""What `/v1/projections` tells of the streaming replica reads may go to."""

from __future__ import annotations

from pydantic import BaseModel, Field

from projections.db import ReadModelDatabase
from projections.replica import ReplicaStates, ReplicaStatus, replica_status


class ReplicaProjectionOut(BaseModel):
    """A read model as the replica has replayed it."""

    name: str
    position: int = Field(description="Log position this read model reached on the replica.")
    lag_events: int = Field(
        description="Events the primary's copy of this read model has applied beyond it."
    )


class ReplicaOut(BaseModel):
    """The streaming replica (FUNDING_READ_DATABASE_URL): its replay, and its read models."""

    state: str = Field(description="streaming, paused, not_in_recovery or down")
    lag_bytes: int | None = Field(
        description="WAL the primary wrote that the replica has not replayed (bytes)."
    )
    lag_seconds: float | None = Field(
        description="Age of the last transaction replayed while received WAL waits to be "
        "replayed (0 when all received WAL is replayed)."
    )
    items: list[ReplicaProjectionOut]
    error: str | None = Field(default=None, description="Why the replica is down.")

    @classmethod
    def of(cls, found: ReplicaStatus) -> ReplicaOut:
        return cls(
            state=found.state.value,
            lag_bytes=found.lag_bytes,
            lag_seconds=None if found.lag_seconds is None else round(found.lag_seconds, 3),
            items=[
                ReplicaProjectionOut(
                    name=name,
                    position=position,
                    lag_events=max(found.primary_positions.get(name, position) - position, 0),
                )
                for name, position in found.positions.items()
            ],
            error=found.error,
        )


def replica_answer(primary: ReadModelDatabase, replica: ReplicaStates | None) -> ReplicaOut | None:
    """The replica's status for `/v1/projections` (None without a replica)."""
    return None if replica is None else ReplicaOut.of(replica_status(primary, replica.db))
