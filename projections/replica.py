"""A streaming replica of the read models' database: how far it has replayed, followed.

A PostgreSQL hot standby answers the read models' queries from the WAL it has replayed so
far: the tracking rows it holds tell which log position its copy of each read model
reached. It cannot LISTEN (the primary's notifications never reach a standby), so
`ReplicaStates` follows those positions by reading them: every `poll_interval` seconds while
no read waits, every `LOOK_WHILE_WAITING` seconds while one does (one look at a time, shared
by every waiting read of the process). A replica that fails to answer is down until a
reading succeeds again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

from projections.db import ReadModelDatabase
from projections.generations import read_live_position
from projections.registry import READ_MODELS
from projections.sql import Cursor

log = structlog.get_logger("projections.replica")

# Between two looks at the replica's positions while a read waits for one.
LOOK_WHILE_WAITING = 0.01

# The replica's replay: is it a standby, what it received and replayed, is replay paused, and
# the age of the last transaction replayed while WAL received waits to be replayed (0 when
# everything received is replayed: an idle primary is not a lagging replica).
REPLAY_SQL = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END, "
    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


class ReplicaState(StrEnum):
    """What the replica is doing."""

    STREAMING = "streaming"
    PAUSED = "paused"
    # The URL names a database that is not (or no longer) a standby: read, but not lagging.
    NOT_IN_RECOVERY = "not_in_recovery"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """How far the replica trails the primary (bytes of WAL, seconds) and its read models."""

    state: ReplicaState
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    # Each read model's log position: on the replica, and on the primary.
    positions: dict[str, int] = field(default_factory=dict)
    primary_positions: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def parse_lsn(text: str) -> int:
    """A WAL location such as '16/B374D848' as a byte offset."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def read_positions(db: ReadModelDatabase, cur: Cursor) -> dict[str, int]:
    """Each read model's live position; 0 each while the tables have not reached this database."""
    try:
        return {name: read_live_position(db, cur, name)[1] for name in READ_MODELS}
    except Exception as error:
        if db.is_missing_table(error):
            return dict.fromkeys(READ_MODELS, 0)
        raise


def replica_positions(db: ReadModelDatabase) -> dict[str, int]:
    """Each read model's live position on the replica (one autocommit connection)."""
    with db.statement() as cur:
        return read_positions(db, cur)


def replica_status(primary: ReadModelDatabase, replica: ReadModelDatabase) -> ReplicaStatus:
    """The replica's replay against the primary's WAL; `down` (with why) when it fails to answer.

    The replica is read first: WAL the primary writes meanwhile counts as lag, never hides it.
    """
    try:
        with replica.statement() as cur:
            cur.execute(REPLAY_SQL)
            row = cur.fetchone()
            positions = read_positions(replica, cur)
    except Exception as error:
        return ReplicaStatus(ReplicaState.DOWN, error=str(error) or type(error).__name__)
    if row is None:  # pragma: no cover - a SELECT without FROM answers one row
        raise RuntimeError("the replica answered no replay row")
    in_recovery, replay_lsn, paused, seconds = row
    with primary.statement() as cur:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        current = cur.fetchone()
        primary_positions = read_positions(primary, cur)
    if not in_recovery or replay_lsn is None or current is None:
        return ReplicaStatus(
            ReplicaState.NOT_IN_RECOVERY,
            positions=positions,
            primary_positions=primary_positions,
        )
    return ReplicaStatus(
        ReplicaState.PAUSED if paused else ReplicaState.STREAMING,
        lag_bytes=max(parse_lsn(str(current[0])) - parse_lsn(str(replay_lsn)), 0),
        lag_seconds=None if seconds is None else max(float(seconds), 0.0),
        positions=positions,
        primary_positions=primary_positions,
    )


class ReplicaStates:
    """The lowest position of the read models on the replica, followed by a background thread.

    `up` is False from a failed look (or a failed query reported by `mark_down`) until a look
    succeeds again: reads then go to the primary without waiting for the replica.
    """

    def __init__(self, db: ReadModelDatabase, poll_interval: float = 0.5) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self._lowest: int | None = None
        self._up = True
        self._look_now = False
        self._changed = threading.Condition()
        self._wakers: set[Callable[[], None]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def up(self) -> bool:
        """Whether reads may go to the replica (no look or query failed since the last success)."""
        self._start()
        return self._up

    def mark_down(self, error: BaseException) -> None:
        """A query on the replica failed for want of it: read the primary until a look succeeds."""
        with self._changed:
            was_up, self._up, self._lowest = self._up, False, None
            self._wake_all()
        if was_up:
            log.warning("replica_down", error=str(error) or type(error).__name__)

    async def reach(self, position: int, timeout: float) -> int | None:
        """Wait, for `timeout` s at most, until the replica's read models reach `position`.

        Return the lowest position seen there (lower than `position`: the wait timed out), or
        None as soon as the replica is down. The wait holds no thread: the follower wakes it
        with each look.
        """
        self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        moved = asyncio.Event()

        def wake() -> None:
            with suppress(RuntimeError):  # the loop closed
                loop.call_soon_threadsafe(moved.set)

        with self._changed:
            self._wakers.add(wake)
        try:
            first = True
            while True:
                moved.clear()
                up, lowest = self._up, self._lowest
                if not up:
                    return None
                left = deadline - loop.time()
                if (lowest is not None and lowest >= position) or left <= 0:
                    return lowest or 0
                if first:
                    # A reading may be up to poll_interval old: look again now, then often.
                    with self._changed:
                        self._look_now = True
                        self._changed.notify_all()
                    first = False
                with suppress(TimeoutError):
                    await asyncio.wait_for(moved.wait(), left)
        finally:
            with self._changed:
                self._wakers.discard(wake)

    def stop(self) -> None:
        """Stop following (a later use starts again)."""
        with self._changed:
            self._stop.set()
            self._changed.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(5)
        self._thread = None
        self._stop = threading.Event()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._follow, args=(self._stop,), name="replica-states", daemon=True
                )
                self._thread.start()

    def _follow(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                lowest = min(replica_positions(self.db).values())
            except Exception as error:
                self.mark_down(error)
            else:
                with self._changed:
                    if not self._up:
                        log.info("replica_up", position=lowest)
                    self._up, self._lowest = True, lowest
                    self._wake_all()
            with self._changed:
                if not self._look_now and not stop.is_set():
                    waiting = bool(self._wakers) and self._up
                    self._changed.wait(LOOK_WHILE_WAITING if waiting else self.poll_interval)
                self._look_now = False

    def _wake_all(self) -> None:
        for wake in self._wakers:
            wake()
