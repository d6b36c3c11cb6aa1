"""Where a read model stopped: an event its live generation cannot apply, recorded beside the
tracking rows so that every process (the API's readiness, the projector's status) sees it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from projections.db import ReadModelDatabase
from projections.sql import Cursor


@dataclass(frozen=True, slots=True)
class ProjectionStop:
    """A read model's live generation stopped before the event at `position`: why."""

    name: str
    generation: int
    position: int
    reason: str


STOPS = "projection_stops"
# The databases known to hold the stops table (it is created with the first stop).
_has_stops: weakref.WeakSet[ReadModelDatabase] = weakref.WeakSet()


def _stops_table(db: ReadModelDatabase, cur: Cursor) -> bool:
    if db not in _has_stops and db.existing_tables(cur, [STOPS]):
        _has_stops.add(db)
    return db in _has_stops


def stopped(db: ReadModelDatabase) -> list[ProjectionStop]:
    """The read models whose live generation is stopped before an event it cannot apply.

    A stop no longer counts once its generation is replaced (a rebuild) or has gone past
    the event (a projector that could apply it after all).
    """
    with db.transaction(readonly=True) as cur:
        if not _stops_table(db, cur):
            return []
        cur.execute(
            "SELECT s.read_model, s.generation, s.position, s.reason "  # noqa: S608
            f"FROM {db.table(STOPS)} s JOIN {db.table('generations')} g "
            "ON g.read_model = s.read_model AND g.live = s.generation "
            f"JOIN {db.table('tracking')} t "
            "ON t.read_model = s.read_model AND t.generation = s.generation "
            "WHERE t.position < s.position ORDER BY s.read_model"
        )
        return [
            ProjectionStop(str(name), int(generation), int(position), str(reason))
            for name, generation, position, reason in cur.fetchall()
        ]


def record_stop(db: ReadModelDatabase, stop: ProjectionStop) -> None:
    """Record that a read model's generation stopped before an event (replacing an older stop)."""
    with db.transaction() as cur:
        db.lock(cur)
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {db.table(STOPS)} ("
            "read_model TEXT NOT NULL, generation INTEGER NOT NULL, position BIGINT NOT NULL, "
            f"reason TEXT NOT NULL, stopped_at {db.timestamp_type}, "
            "PRIMARY KEY (read_model, generation))"
        )
        cur.execute(
            f"INSERT INTO {db.table(STOPS)} "  # noqa: S608
            "(read_model, generation, position, reason, stopped_at) "
            "VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP) ON CONFLICT (read_model, generation) "
            "DO UPDATE SET position = excluded.position, reason = excluded.reason, "
            "stopped_at = excluded.stopped_at",
            (stop.name, stop.generation, stop.position, stop.reason),
        )
    _has_stops.add(db)


def forget_passed_stops(db: ReadModelDatabase) -> None:
    """Delete the stops that no longer count (see `stopped`)."""
    with db.transaction() as cur:
        if not _stops_table(db, cur):
            return
        cur.execute(
            f"DELETE FROM {db.table(STOPS)} WHERE NOT EXISTS ("  # noqa: S608
            f"SELECT 1 FROM {db.table('generations')} g JOIN {db.table('tracking')} t "
            "ON t.read_model = g.read_model AND t.generation = g.live "
            f"WHERE g.read_model = {db.table(STOPS)}.read_model "
            f"AND g.live = {db.table(STOPS)}.generation "
            f"AND t.position < {db.table(STOPS)}.position)"
        )
