"""The event store's configuration: one database URL mapped onto the library's settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

MEMORY_URL = "memory://"
SQLITE_EVENTS_TABLE = "stored_events"
POSTGRES_EVENTS_TABLE = "ledger_events"


def leaves_table(events_table: str) -> str:
    """The table of the log's Merkle leaves, beside (same schema as) an events table."""
    return f"{events_table}_leaves"


def nodes_table(events_table: str) -> str:
    """The table of the log's stored Merkle subtrees, beside an events table."""
    return f"{events_table}_tree_nodes"


SQLITE_LEAVES_TABLE = leaves_table(SQLITE_EVENTS_TABLE)
SQLITE_NODES_TABLE = nodes_table(SQLITE_EVENTS_TABLE)
POSTGRES_LEAVES_TABLE = leaves_table(POSTGRES_EVENTS_TABLE)
POSTGRES_NODES_TABLE = nodes_table(POSTGRES_EVENTS_TABLE)
# Each store's infrastructure factory: the library's, with the ledger's recorder and group
# commit (a "module:Class" topic, since each module also holds the library's factory).
MEMORY_PERSISTENCE = "eventstore.memory:LedgerPOPOFactory"
SQLITE_PERSISTENCE = "eventstore.sqlite:LedgerSQLiteFactory"
POSTGRES_PERSISTENCE = "eventstore.postgres:LedgerPostgresFactory"


class StoreURLError(ValueError):
    """The database URL names no store this product knows."""


def library_env(database_url: str) -> dict[str, str]:
    """Return the eventsourcing settings for a database URL.

    `memory://` is the library's in-process store, `sqlite:///path` an embedded file,
    `postgresql://user:pass@host:port/db` the production store (`?schema=name` keeps the
    event tables in a schema of their own; `?pool_size=` and `?max_overflow=` size the pool;
    `?connect_timeout=` in whole seconds, default 1).
    """
    parts = urlsplit(database_url)
    # Aggregates stay in memory between commands and only read the events recorded since
    # (by any process): a write to a busy project does not replay its whole history.
    cache = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
    if database_url == MEMORY_URL:
        return {"PERSISTENCE_MODULE": MEMORY_PERSISTENCE, **cache}
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise StoreURLError(
                f"{database_url!r}: expected sqlite:///relative/path or sqlite:////absolute/path"
            )
        return {
            "PERSISTENCE_MODULE": SQLITE_PERSISTENCE,
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "10",
            **cache,
        }
    if parts.scheme in ("postgresql", "postgres"):
        dbname = parts.path.lstrip("/")
        if not dbname or not parts.hostname:
            raise StoreURLError(f"{database_url!r}: expected postgresql://user@host:port/db")
        query = parse_qs(parts.query)
        env = {
            "PERSISTENCE_MODULE": POSTGRES_PERSISTENCE,
            "POSTGRES_DBNAME": unquote(dbname),
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            # Also how long a request waits for a pooled connection: during an outage the
            # library retries 10 times, so this bounds the wait for the 503 (about 12 s).
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["1"])[0],
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["5"])[0],
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", ["10"])[0],
            "POSTGRES_PRE_PING": "y",
            # A session left inside a transaction by a vanished client is ended after this
            # many seconds, which frees the event table's lock (a large import pauses
            # between its statements for a moment; 5 s, the library's default, cut one).
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "15",
            **cache,
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        # The library's insert functions would let a tailing reader skip events: keep them off.
        env["POSTGRES_ENABLE_DB_FUNCTIONS"] = "n"
        return env
    raise StoreURLError(
        f"{database_url!r}: the store must be memory://, sqlite:///… or postgresql://…"
    )


def sqlite_path(database_url: str) -> Path | None:
    """Return the file an SQLite URL names (None for other stores or in-memory SQLite)."""
    env = library_env(database_url)
    name = env.get("SQLITE_DBNAME")
    if name is None or ":memory:" in name or "mode=memory" in name:
        return None
    return Path(name)
