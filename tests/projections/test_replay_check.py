"""The replay check: the read models rebuilt from the log equal the live ones, or it says where."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo.synthetic import generate
from domain.application import Ledger
from domain.commands import IdentifyProject
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.generations import live_generation
from projections.layout import generation_table
from projections.replay_check import ROW, Difference, replay_check
from projections.sql import Dialect
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for
from tests.projections.test_property import STEPS, Books

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    found: str = request.getfixturevalue("postgres_url")
    return found


@pytest.fixture
def stores(url: str) -> Iterator[tuple[Ledger, ReadModelDatabase]]:
    """A ledger with 600 synthetic events, and its read models fed page by page (live)."""
    schema = reporting_schema_for(url)
    ledger = Ledger(env=library_env(url))
    db = ReadModelDatabase.from_url(url, reporting_schema=schema)
    generate(ledger, 600, seed=7)
    catch_up(ledger, db, page_size=37)
    try:
        yield ledger, db
    finally:
        db.close()
        ledger.close()
        if db.dialect is Dialect.POSTGRES:
            drop_reporting_schema(url, schema)


def _live_table(db: ReadModelDatabase, read_model: str, table: str) -> str:
    generation = live_generation(db, read_model)
    assert generation is not None
    return db.table(generation_table(table, generation))


def test_a_healthy_store_replays_to_the_same_rows(
    stores: tuple[Ledger, ReadModelDatabase], url: str
) -> None:
    ledger, db = stores

    outcome = replay_check(ledger, db, url, page_size=101)

    assert outcome.differences == []
    assert outcome.tables == 11
    assert outcome.positions == {
        "totals": ledger.head_position(),
        "projects": ledger.head_position(),
    }


def test_a_fact_edited_by_hand_is_named_with_its_key_column_and_both_values(
    stores: tuple[Ledger, ReadModelDatabase], url: str
) -> None:
    ledger, db = stores
    facts = _live_table(db, "totals", "facts")
    with db.transaction() as cur:
        cur.execute(f"SELECT MIN(position) FROM {facts} WHERE kind = 'committed'")  # noqa: S608
        row = cur.fetchone()
        assert row is not None
        position = int(row[0])
        cur.execute(f"SELECT committed FROM {facts} WHERE position = ?", (position,))  # noqa: S608
        committed = cur.fetchone()
        assert committed is not None
        cur.execute(
            f"UPDATE {facts} SET committed = committed + 1 WHERE position = ?",  # noqa: S608
            (position,),
        )

    outcome = replay_check(ledger, db, url)

    assert outcome.differences == [
        Difference("facts", (("position", position),), "committed", committed[0] + 1, committed[0])
    ]


def test_a_project_row_deleted_by_hand_is_named_as_missing(
    stores: tuple[Ledger, ReadModelDatabase], url: str
) -> None:
    ledger, db = stores
    projects = _live_table(db, "projects", "projects")
    with db.transaction() as cur:
        cur.execute(f"SELECT MIN(project_id) FROM {projects}")  # noqa: S608
        row = cur.fetchone()
        assert row is not None
        cur.execute(f"DELETE FROM {projects} WHERE project_id = ?", (row[0],))  # noqa: S608

    outcome = replay_check(ledger, db, url)

    assert outcome.differences == [
        Difference("projects", (("project_id", row[0]),), ROW, "absent", "present")
    ]


def test_the_check_catches_up_with_read_models_that_moved_during_the_replay(
    stores: tuple[Ledger, ReadModelDatabase], url: str
) -> None:
    ledger, db = stores
    moved: list[int] = []

    def write_and_project(done: int, head: int) -> None:
        if not moved:
            written = ledger.execute(
                ACTOR,
                IdentifyProject(
                    name="Arrivé pendant la vérification",
                    territory="commune:59650",
                    theme="mobility",
                    directorate="hauts_de_france",
                    identified_on=date(2025, 1, 2),
                ),
            )
            catch_up(ledger, db)
            moved.append(written.position)

    outcome = replay_check(ledger, db, url, page_size=100, progress=write_and_project)

    assert outcome.differences == []
    assert outcome.positions == {"totals": moved[0], "projects": moved[0]}


@given(steps=STEPS, page_size=st.integers(1, 12))
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_any_history_fed_page_by_page_replays_to_the_same_rows(
    steps: list[tuple[int, int, int, int]], page_size: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'ledger.sqlite3'}"
        ledger = Ledger(env=library_env(url))
        db = ReadModelDatabase.from_url(url)
        try:
            books = Books(ledger)
            for step in steps:
                books.run(step)
            catch_up(ledger, db, page_size=page_size)

            outcome = replay_check(ledger, db, url)

            assert outcome.differences == []
        finally:
            db.close()
            ledger.close()
