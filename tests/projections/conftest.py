"""Read-model fixtures: the read models beside each kind of event store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from projections.db import ReadModelDatabase
from projections.sql import Dialect


def reporting_schema_for(store_url: str) -> str:
    """Return a reporting schema of the test's own: beside its events schema on PostgreSQL."""
    events_schema = parse_qs(urlsplit(store_url).query).get("schema", ["events"])[0]
    return f"reporting_{events_schema}"


def drop_reporting_schema(store_url: str, schema: str) -> None:
    """Drop a test's reporting schema."""
    with psycopg.connect(store_url.partition("?")[0], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def event_table_statistics(store_url: str, recorder: Any) -> int:
    """How many columns of the event table have PostgreSQL planner statistics."""
    schema, table = recorder.datastore.schema, recorder.events_table_name
    with psycopg.connect(store_url.partition("?")[0], autocommit=True) as conn:
        found = conn.execute(
            "SELECT COUNT(*) FROM pg_stats WHERE schemaname = %s AND tablename = %s",
            (schema, table),
        ).fetchone()
    assert found is not None
    return int(found[0])


@pytest.fixture
def read_db(store_url: str) -> Iterator[ReadModelDatabase]:
    """The read models in the same database as the `ledger` fixture's events."""
    schema = reporting_schema_for(store_url)
    db = ReadModelDatabase.from_url(store_url, reporting_schema=schema)
    try:
        yield db
    finally:
        db.close()
        if db.dialect is Dialect.POSTGRES:
            drop_reporting_schema(store_url, schema)
