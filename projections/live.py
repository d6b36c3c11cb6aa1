"""Where each read model stands, known in memory: a cached answer is then served without a query.

On PostgreSQL a thread LISTENs on the read models' channel (the projector notifies it with
each page it commits, and re-reads every `poll_interval` in case a notification is lost) and
keeps each read model's (live generation, position). On SQLite, and whenever that thread has
no current reading, callers read the tracking table themselves.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from typing import Any

import structlog

from projections.db import Cursor, Dialect, ReadModelDatabase
from projections.schema import READ_MODELS, read_live_position

log = structlog.get_logger("projections.live")

State = tuple[int, int]  # (live generation, position)


def read_states(db: ReadModelDatabase, cur: Cursor) -> dict[str, State]:
    """Every read model's (live generation, position), read in the caller's statement."""
    return {name: read_live_position(db, cur, name) for name in READ_MODELS}


class LiveStates:
    """Each read model's live generation and position, followed by a background thread.

    `current()` answers from memory, or None when there is no current reading (SQLite, the
    thread not started or cut off from the database): the caller then reads the database.
    A reading is at most `poll_interval` older than a missed notification, and otherwise
    as old as the notification's trip: reads that must see a write use `min_position`.
    """

    def __init__(self, db: ReadModelDatabase, poll_interval: float = 0.5) -> None:
        self.db = db
        self.poll_interval = poll_interval
        self._states: dict[str, State] | None = None
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

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
