"""A store written by older code (no commitment id claims) loads, projects and takes writes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest

from domain.application import Ledger
from domain.store import library_env
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.rebuild import rebuild
from projections.totals.queries import totals

# Written by the code of 2026-11 (commit 26a2f2e): every kind of project event, a
# convention, an indicator and a token.
FIXTURE = Path(__file__).parents[1] / "fixtures" / "store-2026-11.sqlite3"
PROJECT = UUID("193c4dc6-bd7a-4d73-8339-c85d879c8805")
LOAN = UUID("37d4a930-5de6-44ac-833d-4bc6154b4276")
NORD = Actor("dr-hdf", "hauts_de_france")


@pytest.fixture
def url(tmp_path: Path) -> str:
    copy = tmp_path / "ledger.sqlite3"
    shutil.copy(FIXTURE, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    app = Ledger(env=library_env(url))
    yield app
    app.close()


def test_an_older_store_replays_every_event(ledger: Ledger) -> None:
    project = ledger.project(PROJECT)
    events = ledger.project_events(PROJECT)

    assert project.name == "Tramway Wattrelos–Roubaix"
    assert project.commitments[LOAN].amount == Decimal("1000000.00")
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert ledger.head_position() == 16


def test_an_older_store_takes_new_writes_with_their_claims(ledger: Ledger) -> None:
    written = ledger.grant_loan(
        NORD, PROJECT, amount="5000.00", granted_on=date(2025, 2, 1), duration_months=12
    )

    assert written.version == ledger.project(PROJECT).version
    assert ledger.head_position() == 18  # the loan and its commitment id's claim


def test_an_older_store_rebuilds_its_read_models(ledger: Ledger, url: str) -> None:
    db = ReadModelDatabase.from_url(url)
    try:
        rebuild(ledger, db)
        answer = totals(db)
    finally:
        db.close()

    committed = sum(c.amount for c in ledger.project(PROJECT).commitments.values())
    assert Decimal(answer.total["committed"]) == committed
    assert answer.position == 16
