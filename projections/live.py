"""Where each read model stands, known in memory: a cached answer is then served without a query.

On PostgreSQL a thread LISTENs on the read models' channel (the projector notifies it with
each page it commits, and re-reads every `poll_interval` in case a notification is lost) and
keeps each read model's (live generation, position). On SQLite, and whenever that thread has
no current reading, callers read the tracking table themselves.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import anyio.to_thread
import structlog

from projections.db import ReadModelDatabase
from projections.generations import read_live_position
from projections.registry import READ_MODELS
from projections.sql import Cursor, Dialect

log = structlog.get_logger("projections.live")

State = tuple[int, int]  # (live generation, position)

# A waiting read looks again after these many seconds at first, twice as long each time up
# to the last: at once when the follower publishes a reading, else (SQLite, no reading) it
# reads the tracking table in a worker thread for an instant.
FIRST_LOOK = 0.01
LAST_LOOK = 0.25


def read_states(db: ReadModelDatabase, cur: Cursor) -> dict[str, State]:
    """Every read model's (live generation, position), read in the caller's statement."""
    return {name: read_live_position(db, cur, name) for name in READ_MODELS}


class LiveStates:
    """Each read model's live generation and position, followed by a background thread.

    `current()` answers from memory, or None when there is no current reading (SQLite, the
    thread not started or cut off from the database): the caller then reads the database.
    A reading is at most `poll_interval` older than a missed notification, and otherwise
    as old as the notification's trip: reads that must see a write use `min_position`,
    whose wait (`reach`) runs in the event loop and holds no thread.
    """

    def __init__(self, db: ReadModelDatabase, poll_interval: float = 0.5) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self._states: dict[str, State] | None = None
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # Called (from the follower's thread) with each reading published.
        self._wakers: set[Callable[[], None]] = set()

    def current(self, read_model: str) -> State | None:
        """The read model's (generation, position) as last read, or None without a reading."""
        if self.db.dialect is not Dialect.POSTGRES:
            return None
        if self._thread is None:
            self._start()
        states = self._states
        return None if states is None else states.get(read_model)

    def wait_for(self, read_model: str, position: int, timeout: float) -> State | None:
        """Wait until the reading of a read model reaches `position`; return the last reading."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                state = self.current(read_model)
                left = deadline - time.monotonic()
                if (state is not None and state[1] >= position) or left <= 0:
                    return state
                self._changed.wait(left)

    async def reach(
        self, position: int, timeout: float, read_models: tuple[str, ...] = READ_MODELS
    ) -> int:
        """Wait in the event loop until the read models reach `position`, for `timeout` s at
        most; return the lowest position reached (lower than `position`: timed out).

        No thread is held while waiting: the reading is the follower's when it has one, and
        the wait ends with its next publication; else the tracking table is read in a worker
        thread, again and again with a growing pause.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        moved = asyncio.Event()

        def wake() -> None:
            with suppress(RuntimeError):  # the loop closed
                loop.call_soon_threadsafe(moved.set)

        with self._changed:
            self._wakers.add(wake)
        try:
            pause = FIRST_LOOK
            while True:
                moved.clear()
                reached = await self._lowest(read_models)
                left = deadline - loop.time()
                if reached >= position or left <= 0:
                    return reached
                with suppress(TimeoutError):
                    await asyncio.wait_for(moved.wait(), min(pause, left))
                pause = min(pause * 2, LAST_LOOK)
        finally:
            with self._changed:
                self._wakers.discard(wake)

    async def _lowest(self, read_models: tuple[str, ...]) -> int:
        states = [self.current(name) for name in read_models]
        known = [state[1] for state in states if state is not None]
        if len(known) == len(read_models):
            return min(known)

        def read() -> int:
            with self.db.statement() as cur:
                return min(read_live_position(self.db, cur, name)[1] for name in read_models)

        return await anyio.to_thread.run_sync(read)

    def stop(self) -> None:
        """Stop following (the next `current()` starts again)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(5)
        self._thread = None
        self._states = None
        self._stop = threading.Event()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._follow, args=(self._stop,), name="live-states", daemon=True
                )
                self._thread.start()

    def _follow(self, stop: threading.Event) -> None:
        conn: Any = None
        while not stop.is_set():
            try:
                if conn is None:
                    # Listen first: a move committed after the reading below is notified.
                    conn = self.db.listen()
                self._publish(self._read())
                # Wake on the first notification (or the poll); the reading covers them all.
                for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                    pass
            except Exception as error:
                log.warning("live_states_unavailable", error=str(error))
                self._states = None
                if conn is not None:
                    with suppress(Exception):
                        conn.close()
                    conn = None
                stop.wait(self.poll_interval)
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def _read(self) -> dict[str, State]:
        with self.db.statement() as cur:
            return read_states(self.db, cur)

    def _publish(self, states: dict[str, State]) -> None:
        with self._changed:
            previous = self._states or {}
            # Positions only grow within a generation: never publish an older reading.
            self._states = {
                name: max(state, previous.get(name, state)) for name, state in states.items()
            }
            self._changed.notify_all()
            for wake in self._wakers:
                wake()
