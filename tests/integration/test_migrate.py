"""`funding migrate` creates the event table and the read models' tables, once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from domain.application import Ledger
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.generations import read_live
from projections.registry import READ_MODELS


def migrate(url: str, schema: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": url,
        "FUNDING_REPORTING_SCHEMA": schema,
        "FUNDING_LOG_FORMAT": "json",
    }
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A store URL where nothing was created yet, and its reporting schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'ledger.sqlite3'}", "reporting"
        return
    url: str = request.getfixturevalue("postgres_url")
    schema = f"reporting_{url.rsplit('schema=', 1)[1]}"
    try:
        yield url, schema
    finally:
        with psycopg.connect(url.partition("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_migrate_creates_every_table_and_can_run_again(fresh_store: tuple[str, str]) -> None:
    url, schema = fresh_store

    first = migrate(url, schema)
    again = migrate(url, schema)

    ledger = Ledger(env={**library_env(url), "CREATE_TABLE": "n"})  # nothing created here
    db = ReadModelDatabase.from_url(url, schema)
    try:
        assert ledger.head_position() == 0
        with db.transaction(readonly=True) as cur:
            live = {name: read_live(db, cur, name) for name in READ_MODELS}
    finally:
        db.close()
        ledger.close()
    assert all(generation == 1 for generation in live.values())
    assert "event log ready: 0 events" in first.stderr
    assert "generation 1 is live" in again.stderr
