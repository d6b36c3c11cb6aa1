"""Shared fixtures: the same tests run on the in-memory store, SQLite and real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from domain.application import Ledger
from eventstore.settings import library_env

POSTGRES_URL = os.environ.get(
    "FUNDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("FUNDING_REQUIRE_POSTGRES", "") in ("1", "true", "yes")


def postgres_available() -> bool:
    """Whether the test PostgreSQL answers."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    """Skip a PostgreSQL test on a laptop without it; fail when CI demands it."""
    if postgres_available():
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"FUNDING_REQUIRE_POSTGRES is set but {POSTGRES_URL} does not answer")
    pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")


# This test run's mark in the names of the schemas it makes (shared by its xdist workers),
# so that its end can tell what it left behind from what another run is using.
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)[:8]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards with the read
    models' schema beside it (`reporting_<schema>`)."""
    require_postgres()
    schema = f"test_{RUN}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA IF EXISTS "reporting_{schema}" CASCADE')


def left_behind() -> list[str]:
    """The schemas this run made in the test database and did not drop."""
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY nspname",
            (f"%test\\_{RUN}\\_%",),
        ).fetchall()
    return [name for (name,) in rows]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a run that leaves schemas behind in the test database (and drop them)."""
    if hasattr(session.config, "workerinput") or not postgres_available():
        return  # an xdist worker: the controller looks once every worker is done
    leftovers = left_behind()
    if not leftovers:
        return
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for name in leftovers:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    session.config.get_terminal_writer().line(
        f"tests left schemas behind in {POSTGRES_URL}: {', '.join(leftovers)}", red=True
    )
    if exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty event store of each kind."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    """A Ledger application on an empty store of each kind."""
    app = Ledger(env=library_env(store_url))
    try:
        yield app
    finally:
        app.close()
