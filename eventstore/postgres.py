"""The PostgreSQL recorder of the ledger: exactly-once writes, bounded waits, large batches.

The library's recorder retries an insert after any connection error, even one raised while
the COMMIT was on its way: when that commit had in fact happened, the retry collides with
the rows it wrote and the caller takes the collision for a concurrent writer's, runs its
command again and records it twice. This recorder knows when a commit was sent and, when
its answer is lost, settles the outcome before it retries or answers: it ends the old
session on the server (so a COMMIT still in flight can no longer land), then looks for its
own rows, byte for byte. Found: the write is done and answered with its positions. Absent:
nothing was recorded and the write is tried again. Unknowable before the deadline: the
caller is told so (`WriteOutcomeUnknownError`), never that nothing was recorded.

Every call is bounded: a client-side deadline on each use of a connection (the watchdog),
a server-side statement timeout, TCP keepalives, and retries within a total budget.
A write of up to `COPY_ABOVE_EVENTS` events is one INSERT, a larger one a COPY at the
positions after the head (read under the table lock), both within one transaction and
without the driver's pipeline mode (which stalled for ever on a single insert of ~15,000
events). `LedgerPostgresFactory` is the store `eventstore.settings` names.

A subscription (`subscribe()`) is `eventstore.subscription.LedgerPostgresSubscription`.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    EventStore,
    IntegrityError,
    InterfaceError,
    Mapper,
    Notification,
    OperationalError,
    StoredEvent,
    Subscription,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from psycopg.sql import SQL, Identifier, Literal

from eventstore.group_commit import grouped
from eventstore.leaves import leaf_hashes
from eventstore.leaves_postgres import PostgresTree
from eventstore.leaves_postgres_tip import Tip
from eventstore.limits import CONNECT_SECONDS, KEEPALIVES, STATEMENT_SECONDS
from eventstore.subscription import LedgerPostgresSubscription
from eventstore.watchdog import WATCHDOG

log = logging.getLogger(__name__)

# A write of more events is recorded with COPY, a smaller one with one INSERT.
COPY_ABOVE_EVENTS = 2000
# A COPY's events are sent (and hashed) in slices of this many.
COPY_SLICE = 500
# A large write may take longer: this much more per thousand events.
SECONDS_PER_1000_EVENTS = 0.25
# Total time a read, or a write and the settling of its outcome, may take with its retries.
CALL_BUDGET_SECONDS = 9.0
# How long the check of an idle pooled connection may take.
PING_SECONDS = 0.5
# A pooled connection used this recently is handed out without a ping first.
PING_BYPASS_SECONDS = 0.5
RETRY_WAIT_SECONDS = 0.2
R = TypeVar("R")


class WriteOutcomeUnknownError(OperationalError):
    """The store stopped answering after a write was sent to commit: it may be recorded."""


class PingUnlessRecent:
    """A pool's connection check that pings only connections idle for a while.

    Checking every connection before use costs a round trip per statement; a connection
    that answered less than `bypass` seconds ago is trusted. If the server went away in
    that window, the statement fails and is retried on another connection, by which time
    every check pings again. A ping is bounded by the watchdog.
    """

    def __init__(self, bypass: float = PING_BYPASS_SECONDS) -> None:
        self.bypass = bypass
        self._last: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, conn: Any) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(conn)
        if last is None or now - last > self.bypass:
            with WATCHDOG.guard(conn, PING_SECONDS, "connection check"):
                conn.execute("")  # raises if the connection is broken: the pool drops it
        with self._lock:
            self._last[conn] = now


def tune_datastore(datastore: PostgresDatastore) -> None:
    """Bound every wait of the datastore's connections (once per datastore)."""
    if getattr(datastore, "_funding_tuned", False):
        return
    pool: Any = datastore.pool
    pool.kwargs = {
        **(pool.kwargs or {}),
        **KEEPALIVES,
        "connect_timeout": CONNECT_SECONDS,
        "options": f"-c statement_timeout={int(STATEMENT_SECONDS * 1000)}",
    }
    # The library's pre-ping checks every connection on every use (psycopg_pool keeps the
    # check it was given in `_check`; without one, no use is checked).
    if callable(getattr(pool, "_check", None)):
        pool._check = PingUnlessRecent()
    unguarded = datastore.get_connection
    datastore._funding_unguarded = unguarded  # type: ignore[attr-defined]

    @contextmanager
    def guarded() -> Iterator[Any]:
        with unguarded() as conn:
            seconds = getattr(_budget, "seconds", STATEMENT_SECONDS)
            with WATCHDOG.guard(conn, seconds):
                yield conn

    datastore.get_connection = guarded  # type: ignore[method-assign]
    datastore._funding_tuned = True  # type: ignore[attr-defined]


# The deadline of the connection uses of this thread's current call.
_budget = threading.local()


@contextmanager
def _statement_seconds(seconds: float) -> Iterator[None]:
    previous = getattr(_budget, "seconds", None)
    _budget.seconds = seconds
    try:
        yield
    finally:
        if previous is None:
            del _budget.seconds
        else:
            _budget.seconds = previous


def _within_budget(call: Callable[[], R]) -> R:
    """Run a read, retrying connection failures until the call's budget is spent."""
    deadline = time.monotonic() + CALL_BUDGET_SECONDS
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError):
            if time.monotonic() + RETRY_WAIT_SECONDS >= deadline:
                raise
            time.sleep(RETRY_WAIT_SECONDS)


class _Attempt:
    """What one try at a write got as far as."""

    def __init__(self) -> None:
        self.backend_pid: int | None = None
        self.commit_sent = False


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """The library's application recorder with exactly-once, bounded, large writes.

    Each write also adds its events' Merkle leaves, before its COMMIT (`leaves_postgres`).
    """

    # Off only in the benchmark's reference recorder (scripts/bench/audit.py).
    merkle_leaves = True

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        tune_datastore(datastore)
        super().__init__(datastore, events_table_name=events_table_name)
        self.tree = PostgresTree(self.datastore, self.events_table_name)
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        self._stored_rows_statement = SQL(
            "SELECT originator_id, originator_version, notification_id, state FROM {0} "
            "WHERE originator_id = ANY(%s) AND originator_version BETWEEN %s AND %s"
        ).format(table)
        self._notify_statement = SQL("NOTIFY {0}").format(Identifier(self.channel_name))
        # A write's transaction: the library's lock timeout, and the plan the server keeps for
        # each write statement from its first use on a connection (not after five plannings
        # of its own, each as costly as the write for the statement that adds leaves).
        self._lock_statements = [
            SQL(
                "SELECT set_config('lock_timeout', {0}, true), "
                "set_config('plan_cache_mode', 'force_generic_plan', true)"
            ).format(Literal(f"{self.datastore.lock_timeout}s")),
            SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(table),
        ]
        # Four plain arrays (quicker to send than an array of the library's composite type),
        # inserted, and so numbered, in the order given.
        self._insert_statement = SQL(
            "INSERT INTO {0} (originator_id, originator_version, topic, state) "
            "SELECT i, v, t, s FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "WITH ORDINALITY AS e(i, v, t, s, n) ORDER BY n RETURNING notification_id"
        ).format(table)
        self._head_statement = SQL(
            "SELECT COALESCE(MAX(notification_id), 0) AS head FROM {0}"
        ).format(table)
        self._copy_statement = SQL(
            "COPY {0} (notification_id, originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(table)
        # After a COPY at chosen positions: the sequence moved past them (never back).
        self._sequence_statement = SQL(
            "SELECT setval(s.seq, GREATEST(%s, COALESCE(pg_sequence_last_value(s.seq), 0))) "
            "FROM (SELECT pg_get_serial_sequence(%s, 'notification_id')::regclass AS seq) AS s"
        )
        self._table_name = f'"{self.datastore.schema}"."{self.events_table_name}"'

    def create_table(self) -> None:
        super().create_table()
        self.tree.create(self.lock_table_statements)

    def tree_store(self) -> PostgresTree:
        """The reads of the log's tree (`eventstore.tree.log_tree`)."""
        return self.tree

    # Writes ----------------------------------------------------------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Record the events in one transaction, exactly once; return their positions."""
        if any(value is not None for value in kwargs.values()) or not stored_events:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        extra = SECONDS_PER_1000_EVENTS * len(stored_events) / 1000
        seconds = STATEMENT_SECONDS + extra
        deadline = time.monotonic() + CALL_BUDGET_SECONDS + extra
        uncertain = False
        while True:
            attempt = _Attempt()
            try:
                with _statement_seconds(seconds):
                    return self._insert_once(stored_events, attempt)
            except IntegrityError:
                # After a lost acknowledgement, the rows in the way may be our own.
                if uncertain and (ids := self._stored_ids(stored_events)) is not None:
                    return ids
                raise
            except (OperationalError, InterfaceError) as error:
                if attempt.commit_sent:
                    uncertain = True
                    ids = self._settle(stored_events, attempt, deadline, error)
                    if ids is not None:
                        log.warning("a write's commit was acknowledged late: recorded once")
                        return ids
                if time.monotonic() + RETRY_WAIT_SECONDS >= deadline:
                    raise
                time.sleep(RETRY_WAIT_SECONDS)

    def _insert_once(self, stored_events: Sequence[StoredEvent], attempt: _Attempt) -> list[int]:
        # Everything is shaped before the lock is taken: the lock covers the inserts only.
        copying = len(stored_events) > COPY_ABOVE_EVENTS
        columns = (
            ()
            if copying
            else (
                [_uuid(e.originator_id) for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            )
        )
        ids: list[int] = []
        tip: Tip | None = None
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            attempt.backend_pid = conn.info.backend_pid
            # Transaction control and NOTIFY are sent as text, never as prepared statements.
            curs.execute("BEGIN", prepare=False)
            try:
                for statement in self._lock_statements:
                    curs.execute(statement, prepare=True)
                curs.execute(self._notify_statement, prepare=False)
                if copying:
                    ids = self._copy(curs, stored_events)
                elif self.merkle_leaves:  # events, leaves and subtrees in one statement
                    ids, tip = self.tree.tip.insert(curs, columns)
                else:
                    curs.execute(self._insert_statement, columns, binary=True)
                    ids = [row["notification_id"] for row in curs.fetchall()]
                if len(ids) != len(stored_events):
                    raise OperationalError(f"the store returned {len(ids)} positions")
            except BaseException:
                with suppress(Exception):
                    curs.execute("ROLLBACK", prepare=False)
                raise
            # From here on, a lost answer leaves the outcome to be settled.
            attempt.commit_sent = True
            try:
                self._commit(curs)
            except BaseException:
                conn.close()  # never back to the pool: its session is to be ended
                raise
        if tip is not None:
            self.tree.tip.keep(tip)
        return ids

    def _copy(self, curs: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Record many events with COPY (several times quicker than INSERT at this size).

        The table lock is held: the positions after the head read once it was taken are
        free, and the events are copied there, in the order given (the sequence is then
        moved past them). With leaves, each slice of events is hashed while the server
        stores the slice before it.
        """
        frontier = None
        if self.merkle_leaves:  # the log's head and the tree's frontier in one read
            head, frontier = self.tree.head_and_frontier(curs)
        else:
            curs.execute(self._head_statement)
            row = curs.fetchone()
            head = int(row["head"]) if row else 0
        ids = list(range(head + 1, head + 1 + len(stored_events)))
        hashes: list[bytes] = []
        with curs.copy(self._copy_statement) as copy:
            copy.set_types(["int8", "uuid", "int8", "text", "bytea"])
            for start in range(0, len(stored_events), COPY_SLICE):
                events = stored_events[start : start + COPY_SLICE]
                for position, e in zip(ids[start : start + COPY_SLICE], events, strict=True):
                    copy.write_row(
                        (position, _uuid(e.originator_id), e.originator_version, e.topic, e.state)
                    )
                if frontier is not None:
                    hashes += leaf_hashes(ids[start : start + COPY_SLICE], events)
        curs.execute(self._sequence_statement, (ids[-1], self._table_name))
        if frontier is not None:
            self.tree.add_hashed_leaves(curs, ids, hashes, frontier)
        return ids

    def _commit(self, curs: Any) -> None:
        curs.execute("COMMIT", prepare=False)

    def _settle(
        self,
        stored_events: Sequence[StoredEvent],
        attempt: _Attempt,
        deadline: float,
        error: Exception,
    ) -> list[int] | None:
        """After a lost COMMIT answer: the positions if it was recorded, None if not."""
        while True:
            try:
                with _statement_seconds(STATEMENT_SECONDS):
                    if attempt.backend_pid is not None and not self._session_ended(
                        attempt.backend_pid
                    ):
                        raise OperationalError("the write's session is still running")
                    return self._stored_ids(stored_events)
            except (OperationalError, InterfaceError):
                if time.monotonic() + RETRY_WAIT_SECONDS >= deadline:
                    raise WriteOutcomeUnknownError(
                        "the store stopped answering after the write was sent to commit: "
                        "it may or may not be recorded"
                    ) from error
                time.sleep(RETRY_WAIT_SECONDS)

    def _session_ended(self, pid: int) -> bool:
        # A COMMIT still on its way to the old session could land after we looked: end the
        # session first (waiting up to 3 s for it to go), then its transaction is settled.
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            # An idle session has no transaction left: nothing of it can commit any more.
            curs.execute(
                "SELECT bool_and(state = 'idle' OR pg_terminate_backend(pid, 3000)) AS gone "
                "FROM pg_stat_activity WHERE pid = %s",
                (pid,),
            )
            row = curs.fetchone()
            return row is None or row["gone"] is None or bool(row["gone"])

    def _stored_ids(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The positions of these very events (same bytes) if stored, else None."""
        wanted = {(_uuid(e.originator_id), e.originator_version): e for e in stored_events}
        originators = sorted({key[0] for key in wanted}, key=str)
        versions = [key[1] for key in wanted]
        found: dict[tuple[UUID, int], int] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._stored_rows_statement, (originators, min(versions), max(versions)))
            for row in curs.fetchall():
                key = (_uuid(row["originator_id"]), int(row["originator_version"]))
                event = wanted.get(key)
                if event is not None and bytes(row["state"]) == event.state:
                    found[key] = int(row["notification_id"])
        if not found:
            return None
        if len(found) != len(wanted):
            # One transaction is all or nothing: a part means someone else's rows.
            return None
        return [found[(_uuid(e.originator_id), e.originator_version)] for e in stored_events]

    # Reads, within a total budget instead of the library's ten tries -------------------------

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's read of one aggregate's events, bounded in time."""
        read = PostgresApplicationRecorder.select_events.__wrapped__
        return _within_budget(
            lambda: read(self, originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        )

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's read of the log, bounded in time."""
        read = PostgresApplicationRecorder.select_notifications.__wrapped__
        return _within_budget(
            lambda: read(self, start, limit, stop, topics, inclusive_of_start=inclusive_of_start)
        )

    def max_notification_id(self) -> int | None:
        """The library's read of the log's head, bounded in time."""
        read = PostgresApplicationRecorder.max_notification_id.__wrapped__
        head: int | None = _within_budget(lambda: read(self))
        return head

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        """The library's subscription to the log, able to wait for as long as it lasts."""
        return LedgerPostgresSubscription(recorder=self, gt=gt, topics=topics)

    # Positions -------------------------------------------------------------------------------

    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Return {aggregate version: global log position} for one aggregate's events."""
        with self.datastore.transaction(commit=False) as curs:
            table = f'"{self.datastore.schema or "public"}"."{self.events_table_name}"'
            curs.execute(
                f"SELECT originator_version, notification_id FROM {table} "  # noqa: S608
                "WHERE originator_id = %s",
                (originator_id,),
            )
            rows: list[dict[str, Any]] = curs.fetchall()
            return {int(r["originator_version"]): int(r["notification_id"]) for r in rows}


class LedgerPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory: the ledger's recorder, saves by group commit.

    `APPLICATION_RECORDER_TOPIC` still names another recorder (tests use it to break one).
    """

    application_recorder_class = LedgerPostgresRecorder

    def event_store(
        self, mapper: Mapper[Any] | None = None, recorder: AggregateRecorder | None = None
    ) -> EventStore[Any]:
        return super().event_store(mapper=mapper, recorder=grouped(recorder))


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
