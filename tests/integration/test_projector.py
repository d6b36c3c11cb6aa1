"""The projector process: notifications, polling, crashes, concurrent writers, rebuilds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from demo import generate
from domain.commands import IdentifyProject
from domain.values import Actor
from projections.feed import catch_up, position_of
from projections.projector import Projector, status, wait_for_position
from projections.rebuild import rebuild
from projections.registry import READ_MODELS
from projections.sql import Dialect
from projections.totals.queries import totals
from tests.integration.conftest import Store
from tests.projections.conftest import event_table_statistics

ACTOR = Actor(name="integration")
GROUPINGS = (("region", "theme"), ("departement", "instrument"), ("year", "programme"))


def identify(store: Store, name: str = "Pôle d'échanges multimodal") -> int:
    """Record a project; return the log position of the write."""
    return store.ledger.execute(
        ACTOR,
        IdentifyProject(
            name=name,
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 3, 1),
        ),
    ).position


def snapshot(store: Store) -> list[Any]:
    """Every figure of a few groupings, for comparing two states of the read models."""
    return [
        (
            totals(store.db, grouping, {}, None, None).rows,
            totals(store.db, grouping, {}, None, None).total,
        )
        for grouping in GROUPINGS
    ]


@pytest.fixture
def running(pg_store: Store) -> Iterator[Projector]:
    """A projector thread on PostgreSQL that would poll only every 60 s."""
    projector = Projector(pg_store.ledger, pg_store.db, poll_interval=60)
    projector.step()
    projector.start()
    yield projector
    projector.stop()


@pytest.mark.postgres
def test_a_notification_wakes_the_projector_long_before_its_next_poll(
    pg_store: Store, running: Projector
) -> None:
    position = identify(pg_store)

    reached = wait_for_position(pg_store.db, position, timeout=10)

    assert reached >= position


@pytest.mark.postgres
def test_without_notifications_the_projector_catches_up_by_polling(pg_store: Store) -> None:
    projector = Projector(pg_store.ledger, pg_store.db, poll_interval=0.2, listen=False)
    projector.start()
    try:
        position = identify(pg_store)

        reached = wait_for_position(pg_store.db, position, timeout=10)
    finally:
        projector.stop()

    assert reached >= position


@pytest.mark.postgres
def test_a_lost_notification_delays_the_projector_by_one_poll_at_most(
    pg_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listening on a channel nobody notifies: every notification is lost.
    monkeypatch.setattr(pg_store.ledger.recorder, "channel_name", "nobody_notifies_this")
    projector = Projector(pg_store.ledger, pg_store.db, poll_interval=0.3)
    projector.start()
    try:
        position = identify(pg_store)

        reached = wait_for_position(pg_store.db, position, timeout=10)
    finally:
        projector.stop()

    assert reached >= position


@pytest.mark.postgres
def test_a_writer_committing_late_is_not_skipped_by_a_tailing_projector(
    pg_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder: Any = pg_store.ledger.recorder
    original = type(recorder)._commit
    a_inserted = threading.Event()
    release_a = threading.Event()

    def pause_writer_a(self: Any, curs: Any) -> None:
        # Writer A has inserted its events and holds the table lock, not yet committed.
        if threading.current_thread().name == "writer-a":
            a_inserted.set()
            release_a.wait(10)
        original(self, curs)

    monkeypatch.setattr(type(recorder), "_commit", pause_writer_a)
    catch_up(pg_store.ledger, pg_store.db)
    positions: dict[str, int] = {}
    a = threading.Thread(
        target=lambda: positions.__setitem__("a", identify(pg_store, "A")), name="writer-a"
    )
    b = threading.Thread(
        target=lambda: positions.__setitem__("b", identify(pg_store, "B")), name="writer-b"
    )
    a.start()
    a_inserted.wait(10)
    b.start()
    tailed_while_a_was_open = catch_up(pg_store.ledger, pg_store.db)
    b_done_before_a = "b" in positions
    release_a.set()
    a.join(10)
    b.join(10)

    final = catch_up(pg_store.ledger, pg_store.db)

    assert not b_done_before_a
    assert tailed_while_a_was_open == 0
    assert positions["a"] < positions["b"] == final
    assert totals(pg_store.db, [], {}, None, None).total["projects"] == 2


def _projector_process(store: Store) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "projector", "--page-size", "500"],
        env={**os.environ, **store.environ()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_a_projector_killed_at_random_points_ends_with_a_clean_rebuild_s_totals(
    any_store: Store,
) -> None:
    head = generate(any_store.ledger, 30_000, seed=7)
    rng = random.Random(11)
    killed_at = []
    for _ in range(4):
        reached = position_of(any_store.db, READ_MODELS[0])
        process = _projector_process(any_store)
        try:
            wait_for_position(any_store.db, reached + rng.randint(1, 4000), timeout=120)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        killed_at.append(position_of(any_store.db, READ_MODELS[0]))
    process = _projector_process(any_store)
    try:
        wait_for_position(any_store.db, head, timeout=120)
    finally:
        process.terminate()
        process.wait(30)
    after_crashes = snapshot(any_store)

    for read_model in READ_MODELS:
        rebuild(any_store.ledger, any_store.db, read_model)

    assert any(position < head for position in killed_at)
    assert snapshot(any_store) == after_crashes
    assert min(s.position for s in status(any_store.ledger, any_store.db)) == head


def test_readers_never_see_an_empty_or_partial_answer_during_a_rebuild(any_store: Store) -> None:
    generate(any_store.ledger, 6_000, seed=3)
    catch_up(any_store.ledger, any_store.db)
    expected = totals(any_store.db, ["region"], {}, None, None)
    seen: list[tuple[Any, Any]] = []
    done = threading.Event()

    def read_throughout() -> None:
        while not done.is_set():
            answer = totals(any_store.db, ["region"], {}, None, None)
            seen.append((answer.rows, answer.total))

    reader = threading.Thread(target=read_throughout)
    reader.start()
    try:
        rebuild(any_store.ledger, any_store.db, "totals", page_size=200)
    finally:
        done.set()
        reader.join(30)

    assert len(seen) > 1
    assert all(answer == (expected.rows, expected.total) for answer in seen)


def test_the_status_reports_position_head_and_lag(any_store: Store) -> None:
    catch_up(any_store.ledger, any_store.db)
    identify(any_store)

    behind = {s.name: s for s in status(any_store.ledger, any_store.db)}
    catch_up(any_store.ledger, any_store.db)
    caught = {s.name: s for s in status(any_store.ledger, any_store.db)}

    assert behind["totals"].lag_events == 1
    assert behind["totals"].lag_seconds >= 0
    assert caught["totals"].lag_events == 0
    assert caught["projects"].position == caught["projects"].head
    assert any_store.db.dialect in (Dialect.SQLITE, Dialect.POSTGRES)


@pytest.mark.postgres
def test_the_projector_keeps_the_event_tables_statistics_current(pg_store: Store) -> None:
    position = identify(pg_store)
    projector = Projector(pg_store.ledger, pg_store.db, poll_interval=0.2)
    projector.start()
    try:
        assert wait_for_position(pg_store.db, position, timeout=10) >= position
    finally:
        projector.stop()
    assert event_table_statistics(pg_store.url, pg_store.ledger.recorder) > 0
