"""Integration fixtures: a ledger and its read models on SQLite files and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from domain.application import Ledger
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.sql import Dialect
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, require_postgres
from tests.integration.replica_server import ReplicaUnavailableError, StreamingReplica


@dataclass
class Store:
    """A ledger, its read models, and the settings a separate process needs to reach them."""

    url: str
    reporting_schema: str
    ledger: Ledger
    db: ReadModelDatabase

    def environ(self) -> dict[str, str]:
        """Environment variables pointing the `funding` CLI at this store."""
        return {
            "FUNDING_DATABASE_URL": self.url,
            "FUNDING_REPORTING_SCHEMA": self.reporting_schema,
            "FUNDING_LOG_FORMAT": "json",
            "FUNDING_POLL_INTERVAL": "0.1",
        }


def open_store(url: str, reporting_schema: str) -> Store:
    """Open a ledger and its read models on a store URL."""
    ledger = Ledger(env=library_env(url))
    return Store(url, reporting_schema, ledger, ReadModelDatabase.from_url(url, reporting_schema))


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    """A ledger and read models in schemas of their own on the test PostgreSQL."""
    events_schema = postgres_url.rsplit("schema=", 1)[1]
    store = open_store(postgres_url, f"reporting_{events_schema}")
    try:
        yield store
    finally:
        store.db.close()
        store.ledger.close()
        with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{store.reporting_schema}" CASCADE')


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A ledger and read models in one SQLite file."""
    store = open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", "reporting")
    try:
        yield store
    finally:
        store.db.close()
        store.ledger.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest) -> Store:
    """Each real store in turn."""
    name = "pg_store" if request.param == "postgres" else "sqlite_store"
    store: Store = request.getfixturevalue(name)
    assert store.db.dialect in (Dialect.SQLITE, Dialect.POSTGRES)
    return store


@pytest.fixture(scope="session")
def streaming_replica() -> Iterator[StreamingReplica]:
    """A streaming replica of the test PostgreSQL on another port, removed afterwards.

    Skipped when it cannot be made (the reason says what the primary lacks), unless
    FUNDING_REQUIRE_POSTGRES is set: then the tests fail.
    """
    require_postgres()
    try:
        replica = StreamingReplica.create(POSTGRES_URL)
    except ReplicaUnavailableError as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"FUNDING_REQUIRE_POSTGRES is set but no replica could start: {error}")
        pytest.skip(f"no streaming replica: {error}")
    try:
        yield replica
    finally:
        replica.remove()
