"""Projector leadership on PostgreSQL: each read model is applied by one process at a time.

Every projector process campaigns for every read model: a thread per read model waits, on
a connection of its own, for a session-level advisory lock keyed by the reporting schema
and the read model's name (`pg_advisory_lock` bounded by `lock_timeout`, again and again;
the server hands the lock to a waiter the moment its holder's session ends). The process
holding the lock leads that read model: it alone applies its pages.

A leader that dies loses the lock with its session, at once. So does one whose lock
connection breaks; a silent network is bounded by the session's `idle_session_timeout`
(the leader pings more often). Each page a leader applies checks, in its own transaction
and just before its commit, that the lock is still held by the leader's lock session
(`Lease.guard`): a leader whose lock connection broke applies no further page. A follower
taking over waits on the tracking row the page claimed first, so a page in flight either
commits before the follower's first page or not at all; the tracking row keeps each event
applied exactly once.

Each leadership is a term, recorded in `projector_terms`: who (process id, host, the lock
session's backend pid), since when, and the range of positions its pages applied. A
rebuild takes the read model's `rebuild` lock the same way (one rebuild at a time), and
pings it too: its pages may take longer than the server lets a lock session idle.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import weakref
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from eventstore.watchdog import WATCHDOG
from projections.db import ReadModelDatabase
from projections.registry import READ_MODELS, registered
from projections.sql import Cursor

log = structlog.get_logger("projector")

LEADER = "leader"
REBUILD = "rebuild"
TERMS = "projector_terms"
# A follower's wait for the lock, in the server, before it asks again (the server hands the
# lock over at once whatever this is; each wait that ends without it is one lock-timeout
# error line in the server's log).
LOCK_WAIT_SECONDS = 5.0
# How often a leader pings its lock session, and how long a ping may take.
PING_SECONDS = 1.0
PING_DEADLINE_SECONDS = 2.0
# The server ends a lock session silent for this long (a leader cut off by the network).
IDLE_SESSION_SECONDS = 3.0
# After a broken lock connection, before connecting again.
RETRY_SECONDS = 0.5
# Terms kept per read model and role.
KEPT_TERMS = 1000


class NotLeaderError(RuntimeError):
    """This process does not (or no longer) hold the read model's lock: the page rolls back."""


def lock_key(schema: str, read_model: str, role: str = LEADER) -> int:
    """The advisory lock's key (a signed 64-bit integer), stable across processes and versions."""
    text = f"funding/{role}/{schema}/{read_model}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


def lock_ids(key: int) -> tuple[int, int]:
    """The key as `pg_locks` shows it: (classid, objid), with objsubid 1."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def application_name(key: int, role: str = LEADER) -> str:
    """The application_name of the lock sessions of one key (how followers are counted)."""
    return f"funding-{role} {key}"


# Whether the lock is granted to the session whose backend pid is the parameter after the key.
HOLDS = (
    "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.classid = (?)::oid AND l.objid = (?)::oid AND l.objsubid = 1 AND l.pid = ? "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)


@dataclass(frozen=True, slots=True)
class Term:
    """One leadership (or rebuild) of a read model by one process."""

    read_model: str
    role: str
    term: int
    backend_pid: int
    pid: int
    host: str
    since: datetime


_has_terms: weakref.WeakSet[ReadModelDatabase] = weakref.WeakSet()


def terms_ddl(db: ReadModelDatabase) -> str:
    """The statement creating the terms table if missing."""
    return (
        f"CREATE TABLE IF NOT EXISTS {db.table(TERMS)} ("
        "read_model TEXT NOT NULL, role TEXT NOT NULL, term BIGINT NOT NULL, "
        "backend_pid INTEGER NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, "
        "since TIMESTAMPTZ NOT NULL, first_position BIGINT, last_position BIGINT, "
        "pages BIGINT NOT NULL DEFAULT 0, first_page_at TIMESTAMPTZ, last_page_at TIMESTAMPTZ, "
        "PRIMARY KEY (read_model, role, term))"
    )


def ensure_terms_table(db: ReadModelDatabase) -> None:
    """Create the terms table if missing (once per database object)."""
    if db in _has_terms:
        return
    with db.transaction() as cur:
        db.lock(cur)
        cur.execute(terms_ddl(db))
    _has_terms.add(db)


class Lease:
    """One advisory lock of a read model (leader or rebuild), on a connection of its own."""

    def __init__(self, db: ReadModelDatabase, read_model: str, role: str = LEADER) -> None:
        self.db = db
        self.read_model = registered(read_model).name
        self.role = role
        self.key = lock_key(db.reporting_schema, self.read_model, role)
        # Set while this lease holds the lock.
        self.term: Term | None = None
        self._conn: Any = None

    @property
    def key_row(self) -> tuple[str, str]:
        """(read model, role): the terms table's rows of this lease."""
        return (self.read_model, self.role)

    def acquire(self, wait: float) -> bool:
        """Take the lock, waiting `wait` seconds at most (0: only try); start a term.

        Return False when another session holds it. A broken connection raises (and is
        closed: the next call connects again).
        """
        if self.term is not None:
            return True
        ensure_terms_table(self.db)
        import psycopg.errors

        try:
            if self._conn is None:
                self._conn = self.db.connect(
                    application_name=application_name(self.key, self.role),
                    options=f"-c idle_session_timeout={int(IDLE_SESSION_SECONDS * 1000)} "
                    "-c statement_timeout=0",
                )
            conn = self._conn
            with WATCHDOG.guard(conn, wait + PING_DEADLINE_SECONDS, "leadership lock wait"):
                if wait <= 0:
                    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                    if not row[0]:
                        return False
                else:
                    conn.execute(f"SET lock_timeout = {max(int(wait * 1000), 1)}")
                    try:
                        conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))
                    except psycopg.errors.LockNotAvailable:
                        return False
            self.term = self._start_term(conn)
        except BaseException:
            self.close()
            raise
        return True

    def _start_term(self, conn: Any) -> Term:
        terms = self.db.table(TERMS)
        with WATCHDOG.guard(conn, PING_DEADLINE_SECONDS, "leadership term"), conn.transaction():
            row = conn.execute(
                f"INSERT INTO {terms} (read_model, role, term, backend_pid, pid, host, since) "  # noqa: S608
                "SELECT %s, %s, COALESCE(MAX(term), 0) + 1, pg_backend_pid(), %s, %s, now() "
                f"FROM {terms} WHERE read_model = %s AND role = %s "
                "RETURNING term, backend_pid, since",
                (self.read_model, self.role, os.getpid(), socket.gethostname(), *self.key_row),
            ).fetchone()
            term, backend_pid, since = int(row[0]), int(row[1]), row[2]
            conn.execute(
                f"DELETE FROM {terms} WHERE read_model = %s AND role = %s AND term <= %s",  # noqa: S608
                (self.read_model, self.role, term - KEPT_TERMS),
            )
        return Term(
            self.read_model, self.role, term, backend_pid, os.getpid(), socket.gethostname(), since
        )

    def ping(self) -> None:
        """Show the server the session is alive; raise if its connection broke."""
        if self._conn is None:
            raise NotLeaderError(f"the {self.role} lock of {self.read_model} is not held")
        with WATCHDOG.guard(self._conn, PING_DEADLINE_SECONDS, "leadership ping"):
            self._conn.execute("SELECT 1")

    def guard(self, cur: Cursor, first: int, last: int) -> None:
        """Within a page's transaction: raise NotLeaderError unless the lock is still held.

        Records the page in the term (the range of positions it applied, and when); an empty
        range (`first` > `last`: a rebuild's swap) is only checked.
        """
        term = self.term
        if term is None:
            raise NotLeaderError(
                f"this process does not hold the {self.role} lock of {self.read_model}"
            )
        classid, objid = lock_ids(self.key)
        if first > last:
            held = cur.execute(f"SELECT {HOLDS}", (classid, objid, term.backend_pid)).fetchone()
        else:
            cur.execute(
                f"UPDATE {self.db.table(TERMS)} SET "  # noqa: S608
                "first_position = COALESCE(first_position, ?), last_position = ?, "
                "pages = pages + 1, first_page_at = COALESCE(first_page_at, clock_timestamp()), "
                "last_page_at = clock_timestamp() "
                f"WHERE read_model = ? AND role = ? AND term = ? AND {HOLDS}",
                (first, last, *self.key_row, term.term, classid, objid, term.backend_pid),
            )
            held = (cur.rowcount == 1,)
        if held is None or not held[0]:
            raise NotLeaderError(
                f"the {self.role} lock of {self.read_model} is no longer held by this process "
                f"(term {term.term}): its transaction is rolled back"
            )

    def interrupt(self) -> None:
        """End a wait for the lock now (from another thread)."""
        conn = self._conn
        if conn is not None and self.term is None:
            with suppress(Exception):
                conn.cancel_safe(timeout=1.0)

    def close(self) -> None:
        """Release the lock (by ending its session)."""
        self.term = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()


class Leadership:
    """This process's campaign for the leadership of every read model (PostgreSQL).

    `start` runs one thread per read model; `leads` tells which this process leads now;
    `guard` is the check each page makes before its commit. `changed` is set whenever this
    process wins or loses a leadership.
    """

    def __init__(
        self,
        db: ReadModelDatabase,
        read_models: Iterable[str] = READ_MODELS,
        *,
        wait: float = LOCK_WAIT_SECONDS,
        ping: float = PING_SECONDS,
    ) -> None:
        self.leases = {name: Lease(db, name) for name in read_models}
        self.wait = wait
        self.ping = ping
        self.changed = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Campaign in the background until `stop`."""
        if self._threads:
            return
        self._stop.clear()
        for lease in self.leases.values():
            thread = threading.Thread(
                target=self._campaign, args=(lease,), name=f"lead-{lease.read_model}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop campaigning and give up every lock held (a follower takes over at once)."""
        self._stop.set()
        for lease in self.leases.values():
            lease.interrupt()
        for thread in self._threads:
            thread.join(self.wait + PING_DEADLINE_SECONDS + 1)
        self._threads.clear()
        for lease in self.leases.values():
            lease.close()

    def leads(self, read_model: str) -> bool:
        """Whether this process leads the read model now."""
        lease = self.leases.get(read_model)
        return lease is not None and lease.term is not None

    def term(self, read_model: str) -> Term | None:
        """This process's current term of a read model, if it leads it."""
        lease = self.leases.get(read_model)
        return None if lease is None else lease.term

    def guard(self, cur: Cursor, read_model: str, first: int, last: int) -> None:
        """The page guard: the read model's lock must be held by this process (see Lease)."""
        lease = self.leases.get(read_model)
        if lease is None:
            raise NotLeaderError(f"this process does not campaign for {read_model}")
        lease.guard(cur, first, last)

    def _campaign(self, lease: Lease) -> None:
        while not self._stop.is_set():
            try:
                if lease.term is None:
                    if lease.acquire(self.wait):
                        term = lease.term
                        log.info(
                            "projector_leads",
                            read_model=lease.read_model,
                            term=None if term is None else term.term,
                        )
                        self.changed.set()
                    continue
                self._stop.wait(self.ping)
                lease.ping()
            except Exception as error:
                lost = lease.term is not None
                lease.close()
                if lost:
                    self.changed.set()
                if self._stop.is_set():
                    break
                log.warning(
                    "projector_leadership_lost" if lost else "projector_campaign_failed",
                    read_model=lease.read_model,
                    error=str(error),
                    kind=type(error).__name__,
                )
                self._stop.wait(RETRY_SECONDS)
        lease.close()


class RebuildLeases:
    """The rebuild locks of the read models a rebuild builds (one rebuild of each at a time).

    A thread pings them while held, as a leader pings its lock: a page that outlasts the idle
    session timeout must not cost the lock. A lock whose ping fails is given up.
    """

    def __init__(self, db: ReadModelDatabase, read_models: Iterable[str]) -> None:
        self.leases = {name: Lease(db, name, REBUILD) for name in read_models}
        self._stop = threading.Event()
        self._pinger: threading.Thread | None = None

    def acquire(self) -> list[str]:
        """Take every lock without waiting; return the read models another rebuild holds."""
        busy = [name for name, lease in self.leases.items() if not lease.acquire(0)]
        if busy:
            self.close()
            return busy
        self._stop.clear()
        self._pinger = threading.Thread(target=self._keep_alive, name="rebuild-ping", daemon=True)
        self._pinger.start()
        return busy

    def _keep_alive(self) -> None:
        while not self._stop.wait(PING_SECONDS):
            for lease in [lease for lease in self.leases.values() if lease.term is not None]:
                try:
                    lease.ping()
                except Exception as error:
                    lease.close()
                    log.warning("rebuild_lock_lost", read_model=lease.read_model, error=str(error))

    def guard(self, cur: Cursor, read_model: str, first: int, last: int) -> None:
        """The page guard of the rebuild's pages."""
        lease = self.leases.get(read_model)
        if lease is None:
            raise NotLeaderError(f"this rebuild does not build {read_model}")
        lease.guard(cur, first, last)

    def close(self) -> None:
        """Release every lock."""
        self._stop.set()
        if self._pinger is not None:
            self._pinger.join(PING_DEADLINE_SECONDS + 1)
            self._pinger = None
        for lease in self.leases.values():
            lease.close()
