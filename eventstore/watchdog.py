"""Client-side deadlines for database calls: a stalled connection is cut, not waited on.

A statement timeout is enforced by the server, and TCP keepalives by the kernel: neither ends
a wait when the path to the server is silent but still acknowledges packets (a proxy or a
load balancer whose upstream stopped answering). A guarded call whose deadline passes gets
its socket shut down by the watchdog thread: the blocked driver call then fails at once with
the driver's own "connection closed" error, and the pool discards the connection.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Guard:
    deadline: float
    conn: Any
    what: str
    fired: bool = field(default=False)


class Watchdog:
    """Cuts the connections of guarded calls that outlive their deadline."""

    def __init__(self) -> None:
        self._guards: set[_Guard] = set()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, conn: Any, seconds: float, what: str = "database call") -> Iterator[None]:
        """Run the block with a deadline on `conn` (a psycopg connection)."""
        entry = _Guard(time.monotonic() + seconds, conn, what)
        with self._changed:
            self._guards.add(entry)
            self._start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._guards.discard(entry)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [g for g in self._guards if g.deadline <= now and not g.fired]
                if not due:
                    pending = [g.deadline for g in self._guards if not g.fired]
                    self._changed.wait(min(pending) - now if pending else None)
                    continue
                for entry in due:
                    entry.fired = True
            for entry in due:
                _cut(entry)


def _cut(entry: _Guard) -> None:
    try:
        fd = entry.conn.pgconn.socket
    except Exception:  # already closed: nothing waits on it
        return
    log.warning("%s overran its deadline: its database connection is cut", entry.what)
    try:
        dup = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()


WATCHDOG = Watchdog()
