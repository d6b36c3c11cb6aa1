"""A bulk-loaded store rebuilds to totals that agree with its aggregates (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest
from eventsourcing.domain import Aggregate

from demo.bulk import load_bulk
from domain.project import Project
from eventstore.settings import library_env
from projections.rebuild import rebuild
from projections.sql import Dialect
from projections.totals.queries import totals
from tests.integration.conftest import Store

SIZE = 25_000  # two chunks, the second cut short


def test_a_loaded_store_rebuilds_to_the_totals_of_its_aggregates(any_store: Store) -> None:
    postgres = any_store.db.dialect is Dialect.POSTGRES
    # On PostgreSQL two processes record the chunks, as `funding demo --size` does.
    env = library_env(any_store.url) if postgres else None
    report = load_bulk(any_store.ledger, SIZE, env=env, workers=2, seed=11)
    ledger = any_store.ledger

    position = rebuild(ledger, any_store.db)

    aggregates: list[Aggregate] = [ledger.repository.get(i) for i in ledger.iter_aggregate_ids()]
    projects = [aggregate for aggregate in aggregates if isinstance(aggregate, Project)]
    commitments = [c for p in projects for c in p.commitments.values()]
    answer = totals(any_store.db).total
    assert position == ledger.head_position() == report.events >= SIZE
    assert len(projects) == report.projects == answer["projects"]
    assert len(commitments) == report.commitments == answer["commitments"]
    assert answer["committed"] == sum((c.amount for c in commitments), Decimal(0))
    assert answer["cancelled"] == sum((c.cancelled for c in commitments), Decimal(0))
    assert answer["disbursed"] == sum((c.disbursed for c in commitments), Decimal(0))
    assert answer["repaid"] == sum((c.repaid for c in commitments), Decimal(0))
    by_region = totals(any_store.db, ["region"]).rows
    assert sum(row["net_committed"] for row in by_region) == answer["net_committed"]


@pytest.mark.slow
def test_funding_demo_loads_a_size_once(any_store: Store) -> None:
    env = {**os.environ, **any_store.environ()}
    command = [sys.executable, "-m", "api.cli", "demo", "--size", "12k", "--workers", "2"]

    first = subprocess.run(  # noqa: S603 - our own CLI
        command, env=env, capture_output=True, text=True, check=True
    )
    head = any_store.ledger.head_position()
    again = subprocess.run(  # noqa: S603 - our own CLI
        command, env=env, capture_output=True, text=True, check=True
    )

    assert 12_000 <= head <= 12_001
    assert "events/s" in first.stderr
    assert "nothing loaded" in again.stderr
    assert any_store.ledger.head_position() == head
