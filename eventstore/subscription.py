"""A subscription to the PostgreSQL log whose wait for notifications has no deadline.

A subscription (`subscribe()`, which the library's `ProjectionRunner` follows) keeps one
connection for as long as it lasts, waiting on it for notifications: that wait is not a
database call and has no deadline. Its calls do (LISTEN, and a check of the connection every
`LISTEN_CHECK_SECONDS`), so a connection gone silent still ends the subscription with an error.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresSubscription
from psycopg.sql import SQL, Identifier

from eventstore.limits import STATEMENT_SECONDS
from eventstore.watchdog import WATCHDOG

# How often a subscription's connection, idle while it waits for notifications, is checked.
LISTEN_CHECK_SECONDS = 5.0
# How long a subscription waits for a notification before it looks whether it was stopped.
LISTEN_POLL_SECONDS = 0.1


def _unguarded_connection(datastore: PostgresDatastore) -> Any:
    """A pooled connection without the watchdog's deadline on its whole use (to wait on)."""
    getter = getattr(datastore, "_funding_unguarded", datastore.get_connection)
    return getter()


class LedgerPostgresSubscription(PostgresSubscription):
    """The library's subscription, whose wait for notifications has no deadline.

    The library checks a connection out once and waits on it for notifications until the
    subscription stops: under the deadline every checkout has, a subscription idle for longer
    was cut and failed. Here the checkout is not bounded; each call on it is: LISTEN, and a
    check of the connection whenever it has been idle for `LISTEN_CHECK_SECONDS` (a path gone
    silent is then cut by the watchdog, and the subscription fails as the library's does after
    any connection error). Reads of the notifications (another thread) keep their deadlines.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set once LISTEN is in force: notifications from then on reach the subscription.
        self.listening = threading.Event()
        super().__init__(*args, **kwargs)

    def _listen(self) -> None:
        recorder = self._recorder
        try:
            with _unguarded_connection(recorder.datastore) as conn:
                with WATCHDOG.guard(conn, STATEMENT_SECONDS, "subscription's LISTEN"):
                    conn.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))
                self.listening.set()
                checked = time.monotonic()
                while not self._has_been_stopped and not self._thread_error:
                    # Not a database call: a silent path only means no notification arrives.
                    for _ in conn.notifies(timeout=LISTEN_POLL_SECONDS, stop_after=1):
                        self._has_been_notified.set()
                    if time.monotonic() - checked >= LISTEN_CHECK_SECONDS:
                        # Notifications arriving meanwhile are kept for the next wait.
                        with WATCHDOG.guard(conn, STATEMENT_SECONDS, "subscription's check"):
                            conn.execute("")
                        checked = time.monotonic()
        except BaseException as e:
            if self._thread_error is None:
                self._thread_error = e
            self.stop()
