"""The projector's LISTEN connection on the event table's channel (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from typing import Any

import structlog

from domain.application import Ledger

log = structlog.get_logger("projector")


class EventListener:
    """A LISTEN connection on the event table's channel; reconnects after an outage."""

    def __init__(self, ledger: Ledger, stop: threading.Event, wake: threading.Event) -> None:
        self.ledger = ledger
        self.stop = stop
        self.wake = wake
        self.channel: str = getattr(ledger.recorder, "channel_name", "")
        self.conn: Any = None

    def _connect(self) -> Any:
        import psycopg
        from psycopg.conninfo import make_conninfo

        datastore: Any = getattr(self.ledger.recorder, "datastore", None)
        pool = datastore.pool
        settings = {k: v for k, v in pool.kwargs.items() if isinstance(v, str | int)}
        conn = psycopg.connect(make_conninfo(pool.conninfo, **settings), autocommit=True)
        conn.execute(f'LISTEN "{self.channel}"')
        return conn

    def connect(self) -> None:
        """Start listening (a failure leaves the projector polling until a later retry)."""
        try:
            self.conn = self._connect()
        except Exception as error:
            log.warning("projector_listen_failed", error=str(error))

    def wait(self, timeout: float) -> None:
        """Return at the next new event's notification, when `wake` is set, or after `timeout`."""
        if self.stop.is_set():
            return
        try:
            if self.conn is None:
                self.conn = self._connect()
            # Short slices, so that stop() and a new leadership are honoured promptly.
            deadline = time.monotonic() + timeout
            while not self.wake.is_set() and (left := deadline - time.monotonic()) > 0:
                if any(True for _ in self.conn.notifies(timeout=min(left, 0.1), stop_after=1)):
                    return
        except Exception as error:
            # Fall back to polling until the connection comes back.
            log.warning("projector_listen_failed", error=str(error))
            self.close()
            self.stop.wait(timeout)

    def close(self) -> None:
        """Stop listening."""
        if self.conn is not None:
            with suppress(Exception):
                self.conn.close()
            self.conn = None
