"""Rebuilds in bulk: the same tables as page by page, resumed after an interruption."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg.errors
import pytest

from domain.application import Ledger
from projections.db import ReadModelDatabase
from projections.feed import catch_up, position_of
from projections.generations import (
    GenerationStatus,
    create_generation,
    generations,
    live_generation,
    settle,
    swap,
)
from projections.layout import generation_table
from projections.rebuild import rebuild
from projections.registry import READ_MODELS
from projections.sql import Dialect
from projections.totals import tables
from tests.projections.conftest import event_table_statistics
from tests.projections.test_catch_up import answers, record_history, table_rows

DATABASE_ERRORS = (sqlite3.OperationalError, psycopg.errors.UndefinedTable)


class RebuildInterruptedError(Exception):
    """A rebuild stopped from outside (a crash, a Ctrl-C)."""


def live_tables(db: ReadModelDatabase) -> dict[str, dict[str, list[Any]]]:
    """Every row of every live table, by read model."""
    return {rm: table_rows(db, rm, live_generation(db, rm) or 0) for rm in READ_MODELS}


def pending(db: ReadModelDatabase) -> list[GenerationStatus]:
    """The generations being rebuilt."""
    return [g for g in generations(db) if not g.live]


def test_a_rebuild_in_bulk_gives_the_same_tables_as_catching_up_page_by_page(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger)
    catch_up(ledger, read_db, page_size=3)
    page_by_page = live_tables(read_db)
    old = {rm: live_generation(read_db, rm) for rm in READ_MODELS}

    position = rebuild(ledger, read_db, page_size=4)

    assert position == ledger.head_position()
    assert all(live_generation(read_db, rm) != old[rm] for rm in READ_MODELS)
    assert live_tables(read_db) == page_by_page
    assert pending(read_db) == []


def test_a_rebuild_interrupted_in_its_bulk_phase_resumes_to_the_same_tables(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger)
    catch_up(ledger, read_db)
    uninterrupted = live_tables(read_db)
    head = ledger.head_position()

    def interrupt_once_started(position: int, head: int) -> None:
        if position > 0:
            raise RebuildInterruptedError

    with pytest.raises(RebuildInterruptedError):
        rebuild(ledger, read_db, page_size=2, progress=interrupt_once_started)
    halfway = pending(read_db)
    assert {g.read_model for g in halfway} == set(READ_MODELS)
    assert all(0 < g.position < head for g in halfway)
    # Nothing readers see has changed.
    assert live_tables(read_db) == uninterrupted

    position = rebuild(ledger, read_db, page_size=3)

    assert position == head
    assert live_tables(read_db) == uninterrupted
    assert {live_generation(read_db, g.read_model) for g in halfway} == {
        g.generation for g in halfway
    }


def test_a_settle_that_fails_half_way_is_done_again_whole(
    ledger: Ledger, read_db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_history(ledger)
    catch_up(ledger, read_db)
    uninterrupted = live_tables(read_db)
    cube_statements = tables.cube_statements

    def failing_last(db: ReadModelDatabase, generation: int) -> list[list[str]]:
        chains = cube_statements(db, generation)
        chains[-1].append(f"SELECT * FROM {db.table('no_such_table')}")  # noqa: S608
        return chains

    monkeypatch.setattr(tables, "cube_statements", failing_last)
    with pytest.raises(DATABASE_ERRORS):
        rebuild(ledger, read_db, page_size=5)
    monkeypatch.undo()
    assert {g.read_model for g in pending(read_db)} == set(READ_MODELS)

    rebuild(ledger, read_db, page_size=5)

    assert live_tables(read_db) == uninterrupted
    assert pending(read_db) == []


def test_a_generation_fed_in_bulk_is_settled_by_its_swap_then_fed_page_by_page(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger, projects=2)
    catch_up(ledger, read_db, page_size=4)
    rebuilt = {rm: create_generation(read_db, rm, bulk=True) for rm in READ_MODELS}
    catch_up(ledger, read_db, page_size=6, generations=rebuilt)
    for read_model, generation in rebuilt.items():
        swap(read_db, read_model, generation)
    assert not any(settle(read_db, rm, gen) for rm, gen in rebuilt.items())
    record_history(ledger, projects=2)

    catch_up(ledger, read_db, page_size=4)
    page_by_page = {rm: create_generation(read_db, rm) for rm in READ_MODELS}
    catch_up(ledger, read_db, page_size=5, generations=page_by_page)

    for read_model in READ_MODELS:
        assert position_of(read_db, read_model) == ledger.head_position()
        assert table_rows(read_db, read_model, rebuilt[read_model]) == table_rows(
            read_db, read_model, page_by_page[read_model]
        )


def test_one_read_model_is_rebuilt_alone(ledger: Ledger, read_db: ReadModelDatabase) -> None:
    record_history(ledger, projects=2)
    catch_up(ledger, read_db)
    before = answers(read_db)
    projects = live_generation(read_db, "projects")

    rebuild(ledger, read_db, "totals", page_size=3)

    assert answers(read_db) == before
    assert live_generation(read_db, "projects") == projects
    assert pending(read_db) == []


def test_a_tracking_table_from_before_bulk_rebuilds_gets_the_column(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger, projects=1)
    catch_up(ledger, read_db)
    before = answers(read_db)
    with read_db.transaction() as cur:
        cur.execute(f"ALTER TABLE {read_db.table('tracking')} DROP COLUMN bulk")

    read_db._bootstrap()  # what opening the database does
    record_history(ledger, projects=1)
    catch_up(ledger, read_db)

    assert position_of(read_db, "totals") == ledger.head_position()
    assert answers(read_db) != before
    assert not any(settle(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS)


def commitments_index(db: ReadModelDatabase) -> tuple[str, bool]:
    """The live `projects` generation's index for the instrument and period filters
    (qualified name), and whether it exists."""
    table = generation_table("projects_commitments", live_generation(db, "projects") or 0)
    name = f"{table}_project_id_instrument_committed_on"
    with db.transaction(readonly=True) as cur:
        if db.dialect is Dialect.SQLITE:
            cur.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (db.table(name),)
            )
        else:
            cur.execute(
                "SELECT 1 FROM pg_indexes WHERE schemaname = ? AND indexname = ?",
                (db.reporting_schema, name),
            )
        return db.table(name), cur.fetchone() is not None


def test_a_live_generation_built_without_a_read_index_gets_it_in_place(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger, projects=1)
    rebuild(ledger, read_db, "projects", page_size=4)
    name, rebuilt_with_it = commitments_index(read_db)
    with read_db.transaction() as cur:
        cur.execute(f"DROP INDEX {name}")
    projects = live_generation(read_db, "projects")
    assert commitments_index(read_db) == (name, False)

    read_db.indexes_checked.clear()  # a projector (re)starting
    catch_up(ledger, read_db)

    assert rebuilt_with_it
    assert commitments_index(read_db) == (name, True)
    assert live_generation(read_db, "projects") == projects


@pytest.mark.postgres
def test_a_rebuild_first_gives_the_planner_the_event_tables_statistics(
    postgres_url: str,
) -> None:

    from eventstore.settings import library_env
    from projections.notification_log import refresh_log_statistics

    ledger = Ledger(env=library_env(postgres_url))
    try:
        record_history(ledger, projects=2)
        assert refresh_log_statistics(ledger.recorder) is True
        assert event_table_statistics(postgres_url, ledger.recorder) > 0
    finally:
        ledger.close()


@pytest.mark.parametrize("url", ["memory://", "sqlite:///{tmp}/events.sqlite3"])
def test_statistics_are_a_postgresql_matter(url: str, tmp_path: Any) -> None:
    from eventstore.settings import library_env
    from projections.notification_log import refresh_log_statistics

    ledger = Ledger(env=library_env(url.format(tmp=tmp_path)))
    try:
        assert refresh_log_statistics(ledger.recorder) is False
    finally:
        ledger.close()
