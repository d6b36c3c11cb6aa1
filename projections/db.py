"""The read models' database: a small synchronous wrapper over SQLite or PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from eventstore.limits import CONNECT_SECONDS, KEEPALIVES, READ_SECONDS
from eventstore.settings import (
    MEMORY_URL,
    POSTGRES_PERSISTENCE,
    SQLITE_PERSISTENCE,
    library_env,
    sqlite_path,
)
from eventstore.watchdog import WATCHDOG
from projections.reference_tables import fill_reference_tables
from projections.sql import Cursor, Dialect

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

SQLITE_PREFIX = "reporting_"
DEFAULT_SCHEMA = "reporting"
BUSY_TIMEOUT_SECONDS = 10
# How long a read waits for a connection to a replica before it reads the primary instead:
# as long as a new connection may take to start (a replica just down costs one read that).
REPLICA_POOL_SECONDS = float(CONNECT_SECONDS)
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_postgres_url(database_url: str) -> bool:
    """Whether a store URL names a PostgreSQL database."""
    return library_env(database_url)["PERSISTENCE_MODULE"] == POSTGRES_PERSISTENCE


# The longest a read-model transaction may wait on its client between two statements: far
# above a page's own pauses (its Python work between statements, under load), far below
# what would leave a follower waiting on a dead leader's page.
IDLE_IN_TRANSACTION_MS = 30_000


class ReadModelDatabase:
    """The read models' tables, in the event store's database (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        sqlite_target: str | None = None,
        sqlite_shared_memory: bool = False,
        postgres_conninfo: str | None = None,
        reporting_schema: str = DEFAULT_SCHEMA,
        events_schema: str | None = None,
        pool_size: int = 4,
        bootstrap: bool = True,
        pool_timeout: float = READ_SECONDS,
    ) -> None:
        if not IDENTIFIER.match(reporting_schema):
            raise ValueError(f"reporting schema {reporting_schema!r} is not a plain identifier")
        self.dialect = dialect
        self.reporting_schema = reporting_schema
        self.events_schema = events_schema
        # Tables found per (read model, generation): a generation's tables never change.
        self.tables_found: dict[tuple[str, int], frozenset[str]] = {}
        # Generations whose read indexes were checked (see generations.add_missing_indexes).
        self.indexes_checked: set[tuple[str, int]] = set()
        self._sqlite_target = sqlite_target
        self._local = threading.local()
        self._sqlite_connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # A shared in-memory database has one connection, used by one thread at a time.
        self._memory_connection: sqlite3.Connection | None = None
        self._memory_lock = threading.Lock()
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        if dialect is Dialect.SQLITE:
            if sqlite_target is None:
                raise ValueError("an SQLite read-model database needs a file or memory name")
            if sqlite_shared_memory:
                self._memory_connection = self._open_sqlite(sqlite_target, uri=True)
        else:
            if postgres_conninfo is None:
                raise ValueError("a PostgreSQL read-model database needs connection info")
            import psycopg_pool

            self._pool = psycopg_pool.ConnectionPool(
                postgres_conninfo,
                min_size=1,
                max_size=pool_size,
                kwargs={"autocommit": True, **KEEPALIVES},
                open=True,
                name="reporting",
                timeout=pool_timeout,
            )
        # A streaming replica is read-only: its tables come from the primary's bootstrap.
        if bootstrap:
            self._bootstrap()

    @classmethod
    def from_url(
        cls,
        database_url: str,
        reporting_schema: str = DEFAULT_SCHEMA,
        pool_size: int = 4,
        *,
        replica: bool = False,
    ) -> ReadModelDatabase:
        """Open the read models beside the event store named by a store URL.

        `replica`: the URL names a read-only streaming replica of that database (PostgreSQL
        only): nothing is created there, and a connection it cannot give soon fails.
        """
        if replica and not is_postgres_url(database_url):
            raise ValueError("a read replica must be a PostgreSQL database (postgresql://…)")
        if database_url == MEMORY_URL:
            return cls._in_memory()
        env = library_env(database_url)
        if env["PERSISTENCE_MODULE"] == SQLITE_PERSISTENCE:
            path = sqlite_path(database_url)
            if path is None:
                return cls._in_memory()
            return cls(Dialect.SQLITE, sqlite_target=str(path))
        from psycopg.conninfo import make_conninfo

        parts = urlsplit(database_url)
        conninfo = make_conninfo(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=env["POSTGRES_CONNECT_TIMEOUT"],
            application_name="funding-reporting-replica" if replica else "funding-reporting",
            # Territory filters are very skewed (a région holds 1 to 15% of the rows): plan
            # each query for its own values, never with a generic plan. A transaction whose
            # client went silent (a page of a leader cut off by the network, even behind a
            # proxy that keeps the TCP connection up) is ended by the server, so its claim on
            # the tracking row no longer holds the next leader's pages back.
            options="-c plan_cache_mode=force_custom_plan "
            f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        )
        schema = parse_qs(parts.query).get("schema", [None])[0]
        return cls(
            Dialect.POSTGRES,
            postgres_conninfo=conninfo,
            reporting_schema=reporting_schema,
            events_schema=None if schema is None else unquote(schema),
            pool_size=pool_size,
            bootstrap=not replica,
            pool_timeout=REPLICA_POOL_SECONDS if replica else READ_SECONDS,
        )

    @classmethod
    def _in_memory(cls) -> ReadModelDatabase:
        name = f"file:rm_{uuid.uuid4().hex}?mode=memory&cache=shared"
        return cls(Dialect.SQLITE, sqlite_target=name, sqlite_shared_memory=True)

    # Naming --------------------------------------------------------------------------------

    def table(self, name: str) -> str:
        """Return a table's (or view's) qualified name."""
        if self.dialect is Dialect.SQLITE:
            return f"{SQLITE_PREFIX}{name}"
        return f"{self.reporting_schema}.{name}"

    def date_param(self, day: date) -> object:
        """Return a date as the driver compares it with a DATE column."""
        return day.isoformat() if self.dialect is Dialect.SQLITE else day

    @property
    def date_type(self) -> str:
        """The column type of an effective date."""
        return "TEXT" if self.dialect is Dialect.SQLITE else "DATE"

    @property
    def timestamp_type(self) -> str:
        """The column type of a recording time."""
        return "TEXT" if self.dialect is Dialect.SQLITE else "TIMESTAMPTZ"

    def existing_tables(self, cur: Cursor, names: Sequence[str]) -> frozenset[str]:
        """Return which of these unqualified table names exist."""
        if self.dialect is Dialect.SQLITE:
            qualified = {self.table(name): name for name in names}
            found = cur.select_in(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({})",
                list(qualified),
            )
            return frozenset(qualified[row[0]] for row in found)
        found = cur.select_in(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name IN ({})",
            list(names),
            (self.reporting_schema,),
        )
        return frozenset(str(row[0]) for row in found)

    def is_missing_table(self, error: BaseException) -> bool:
        """Whether an error says a table vanished (a reader racing a blue/green swap)."""
        if self.dialect is Dialect.SQLITE:
            return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)
        import psycopg.errors

        return isinstance(error, psycopg.errors.UndefinedTable)

    # Transactions --------------------------------------------------------------------------

    @contextmanager
    def transaction(self, readonly: bool = False, *, durable: bool = True) -> Iterator[Cursor]:
        """Run statements in one transaction: committed on success, rolled back on error.

        A read-only transaction reads one snapshot (PostgreSQL: REPEATABLE READ READ ONLY).
        A transaction that need not be `durable` commits without waiting for its WAL flush
        on PostgreSQL (a crash may lose it whole, never part of it): for projection pages,
        which are applied again from the log after a crash.
        """
        if self.dialect is Dialect.SQLITE:
            with self._sqlite_transaction(readonly) as cursor:
                yield cursor
            return
        if self._pool is None:
            raise RuntimeError("the database is closed")
        from psycopg import IsolationLevel

        with self._pool.connection() as conn, self._guard(conn, readonly):
            conn.read_only = readonly
            conn.isolation_level = IsolationLevel.REPEATABLE_READ if readonly else None
            with conn.transaction(), conn.cursor() as raw:
                if not durable:
                    raw.execute("SET LOCAL synchronous_commit = off")
                yield Cursor(self, raw)

    @contextmanager
    def statement(self) -> Iterator[Cursor]:
        """A cursor for one statement run on its own (autocommit): a single round trip.

        For a lone read that needs no snapshot shared with another statement.
        """
        if self.dialect is Dialect.SQLITE:
            if self._memory_connection is not None:
                with self._memory_lock:
                    yield Cursor(self, self._memory_connection.cursor())
                return
            yield Cursor(self, self._thread_connection().cursor())
            return
        if self._pool is None:
            raise RuntimeError("the database is closed")
        with self._pool.connection() as conn, self._guard(conn, True), conn.cursor() as raw:
            yield Cursor(self, raw)

    @staticmethod
    def _guard(conn: Any, reading: bool) -> AbstractContextManager[None]:
        # A read that outlives its deadline has its connection cut (a silent network would
        # hold it for ever); the projector's and the rebuild's long writes are not cut.
        return WATCHDOG.guard(conn, READ_SECONDS, "read-model query") if reading else nullcontext()

    @contextmanager
    def _sqlite_transaction(self, readonly: bool) -> Iterator[Cursor]:
        if self._memory_connection is not None:
            memory = self._memory_connection
            with self._memory_lock, self._sqlite_begin(memory, readonly) as cursor:
                yield cursor
            return
        with self._sqlite_begin(self._thread_connection(), readonly) as cursor:
            yield cursor

    @contextmanager
    def _sqlite_begin(self, conn: sqlite3.Connection, readonly: bool) -> Iterator[Cursor]:
        if conn.in_transaction:
            raise RuntimeError("read-model transactions do not nest")
        raw = conn.cursor()
        raw.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
        try:
            yield Cursor(self, raw)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            raw.close()

    def _thread_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._sqlite_target is None:
                raise RuntimeError("the database is closed")
            conn = self._open_sqlite(self._sqlite_target, uri=False)
            self._local.conn = conn
        return conn

    def _open_sqlite(self, target: str, *, uri: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            target,
            uri=uri,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_SECONDS,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        if not uri:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -65536")
        with self._connections_lock:
            self._sqlite_connections.append(conn)
        return conn

    def _bootstrap(self) -> None:
        """Create the reporting schema and the generation bookkeeping tables if missing."""
        with self.transaction() as cur:
            if self.dialect is Dialect.POSTGRES:
                self.lock(cur)
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.reporting_schema}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table('generations')} ("
                "read_model TEXT PRIMARY KEY, live INTEGER, highest INTEGER NOT NULL)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table('tracking')} ("
                "read_model TEXT NOT NULL, generation INTEGER NOT NULL, "
                "position BIGINT NOT NULL, "
                f"event_at TEXT, updated_at {self.timestamp_type}, "
                "bulk INTEGER NOT NULL DEFAULT 0, "
                "PRIMARY KEY (read_model, generation))"
            )
            if not self._has_column(cur, "tracking", "bulk"):
                # A tracking table from before bulk rebuilds: its generations are not bulk.
                cur.execute(
                    f"ALTER TABLE {self.table('tracking')} "
                    "ADD COLUMN bulk INTEGER NOT NULL DEFAULT 0"
                )
            # Territories and labels for BI tools, from the packaged reference data.
            fill_reference_tables(cur, self.table, territories=self._memory_connection is None)

    def _has_column(self, cur: Cursor, table: str, column: str) -> bool:
        if self.dialect is Dialect.SQLITE:
            cur.execute(
                "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?",
                (self.table(table), column),
            )
        else:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? AND column_name = ?",
                (self.reporting_schema, table, column),
            )
        row = cur.fetchone()
        return row is not None and int(row[0]) > 0

    def lock(self, cur: Cursor) -> None:
        """Serialise schema changes (generations, swaps) for the rest of the transaction."""
        if self.dialect is Dialect.POSTGRES:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (self.table("generations"),))
        # SQLite: BEGIN IMMEDIATE already holds the database's only write lock.

    # Notifications ---------------------------------------------------------------------------

    @property
    def channel(self) -> str:
        """PostgreSQL: the channel told when a read model's position or generation changes."""
        return f"{self.reporting_schema}.positions"

    def notify_moved(self, cur: Cursor) -> None:
        """Tell listeners, when this transaction commits, that a read model moved."""
        if self.dialect is Dialect.POSTGRES:
            cur.execute("SELECT pg_notify(?, '')", (self.channel,))

    def listen(self) -> Any:
        """PostgreSQL: a new autocommit connection listening on `channel` (the caller closes it)."""
        if self._pool is None:
            raise RuntimeError("only an open PostgreSQL database has notifications")
        import psycopg

        conninfo = self._pool.conninfo
        conn = psycopg.connect(
            conninfo if isinstance(conninfo, str) else conninfo(), autocommit=True
        )
        try:
            conn.execute(f'LISTEN "{self.channel}"')
        except BaseException:
            conn.close()
            raise
        return conn

    def connect(self, **settings: str | int) -> Any:
        """PostgreSQL: a new autocommit connection of its own (the caller closes it).

        `settings` override the pool's connection parameters (application_name, options…).
        """
        if self._pool is None:
            raise RuntimeError("only an open PostgreSQL database has connections of its own")
        import psycopg
        from psycopg.conninfo import make_conninfo

        conninfo = self._pool.conninfo
        base = conninfo if isinstance(conninfo, str) else conninfo()
        return psycopg.connect(make_conninfo(base, **{**KEEPALIVES, **settings}), autocommit=True)

    @property
    def sqlite_file(self) -> str | None:
        """SQLite: the database file (None in memory or on PostgreSQL)."""
        if self.dialect is Dialect.SQLITE and self._memory_connection is None:
            return self._sqlite_target
        return None

    def close(self) -> None:
        """Close every connection."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        with self._connections_lock:
            for conn in self._sqlite_connections:
                conn.close()
            self._sqlite_connections.clear()
        self._memory_connection = None
        self._sqlite_target = None

    def __repr__(self) -> str:
        where = self.reporting_schema if self.dialect is Dialect.POSTGRES else self._sqlite_target
        return f"ReadModelDatabase({self.dialect.value}, {where!r})"
