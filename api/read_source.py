"""Which database answers a read-model query: the streaming replica, or the primary.

With FUNDING_READ_DATABASE_URL set, totals, projects, conventions and territories' totals
are read from the replica; everything else (writes, token checks, idempotency, the audit
log, events) stays on the primary. A read with `min_position` waits until the replica has
replayed that far (its own tracking rows say so), up to FUNDING_READ_WAIT_TIMEOUT; a replica
still behind then, or down, leaves the read to the primary. The answer says which one
answered in its `Funding-Read-From` header (`replica` or `primary`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, TypeVar

import anyio.to_thread
import psycopg
from fastapi import Depends, Request, Response

from api.deps import MinPosition, Services, ServicesDep, beyond_head, reach_position
from api.settings import Settings
from projections.db import ReadModelDatabase
from projections.replica import ReplicaStates

T = TypeVar("T")
READ_FROM = "Funding-Read-From"


class Source(StrEnum):
    """The database a read-model answer came from."""

    PRIMARY = "primary"
    REPLICA = "replica"


def unreachable(error: psycopg.Error) -> bool:
    """Whether an error says the server cannot be used (no connection, cut, shutting down),
    rather than that it refused one query (a standby cancels those conflicting with replay)."""
    return isinstance(error, psycopg.OperationalError) and (
        error.sqlstate is None or error.sqlstate.startswith(("08", "57P"))
    )


@dataclass
class Reading:
    """A read's chosen database, once its wait for `min_position` is over."""

    min_position: int | None
    primary: ReadModelDatabase
    replica: ReplicaStates | None
    source: Source
    response: Response

    def __post_init__(self) -> None:
        self.response.headers[READ_FROM] = self.source.value

    @property
    def headers(self) -> dict[str, str]:
        """The header telling where the answer came from (for a Response built by hand)."""
        return {READ_FROM: self.source.value}

    def run(self, query: Callable[[ReadModelDatabase], T]) -> T:
        """Run `query` on the chosen database; a replica that fails it leaves it to the primary.

        The replica failing for want of a connection (down, unreachable, cut off) is marked
        down; any other failure there (a query cancelled by a replay conflict) is only
        retried on the primary, whose own failure is the answer.
        """
        if self.source is Source.REPLICA and self.replica is not None:
            try:
                return query(self.replica.db)
            except psycopg.Error as error:
                if unreachable(error):
                    self.replica.mark_down(error)
            self._switch(Source.PRIMARY)
        return query(self.primary)

    def _switch(self, source: Source) -> None:
        self.source = source
        self.response.headers[READ_FROM] = source.value


async def reading(
    request: Request,
    response: Response,
    services: ServicesDep,
    min_position: MinPosition = None,
) -> Reading:
    """Wait for `min_position` (on the replica when there is one) and choose the database."""
    timeout = services.settings.read_wait_timeout
    replica = services.replica
    source = Source.PRIMARY
    if replica is None:
        if min_position:
            await reach_position(request, services, min_position, timeout)
    elif not min_position:
        source = Source.REPLICA if replica.up else Source.PRIMARY
    else:
        source = await _on_replica(request, services, replica, min_position, timeout)
    return Reading(min_position, services.read_models, replica, source, response)


async def _on_replica(
    request: Request,
    services: Services,
    replica: ReplicaStates,
    min_position: int,
    timeout: float,
) -> Source:
    """Wait for the replica to replay `min_position`; else the primary, within the same limit."""
    clock = anyio.current_time
    deadline = clock() + timeout
    reached = await replica.reach(min_position, timeout=0)
    if reached is not None and reached >= min_position:
        return Source.REPLICA
    head = await anyio.to_thread.run_sync(services.ledger.head_position)
    if min_position > head:
        raise beyond_head(min_position, head)
    if reached is not None:
        reached = await replica.reach(min_position, timeout=max(deadline - clock(), 0.0))
        if reached is not None and reached >= min_position:
            return Source.REPLICA
    # Still behind at the limit (the primary is looked at once), or down (the rest of it).
    await reach_position(request, services, min_position, max(deadline - clock(), 0.0))
    return Source.PRIMARY


# A read-model read: the database to query, once `min_position` (if asked) is reached there.
ReadingDep = Annotated[Reading, Depends(reading)]


def open_replica(settings: Settings) -> ReplicaStates | None:
    """The replica FUNDING_READ_DATABASE_URL names, followed; None without one."""
    if settings.read_database_url is None:
        return None
    db = ReadModelDatabase.from_url(
        settings.read_database_url, settings.reporting_schema, replica=True
    )
    return ReplicaStates(db, settings.poll_interval)
