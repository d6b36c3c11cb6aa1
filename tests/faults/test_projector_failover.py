"""Several `funding projector` processes on one PostgreSQL: each read model is applied by one
of them at a time, and another takes over when it dies or loses its connection.

Everything is checked from the database: the lock holders (`pg_locks`), and the terms table,
where each page records, in its own transaction, which leadership applied which positions.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import pytest

from demo import generate
from domain.application import Ledger
from domain.commands import IdentifyProject
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import position_of
from projections.leaders import leaders
from projections.leadership import TERMS, NotLeaderError, RebuildLeases
from projections.rebuild import rebuild
from projections.registry import READ_MODELS, TOTALS
from tests.faults.projectors import (
    applied_terms,
    assert_applied_once_by_one_at_a_time,
    differences,
    followers,
    leads_all,
    start_projector,
    stop,
    until,
)
from tests.faults.relay import Relay

pytestmark = pytest.mark.postgres

EVENTS = 100_000


@dataclass
class Store:
    """The events (direct, not through any relay) and the read models' schema."""

    url: str
    reporting_schema: str
    ledger: Ledger
    db: ReadModelDatabase

    def lowest(self) -> int:
        return min(position_of(self.db, name) for name in READ_MODELS)


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    schema = f"reporting_{postgres_url.rsplit('schema=', 1)[1]}"
    ledger = Ledger(env=library_env(postgres_url))
    db = ReadModelDatabase.from_url(postgres_url, schema)
    try:
        yield Store(postgres_url, schema, ledger, db)
    finally:
        db.close()
        ledger.close()
        with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_clean" CASCADE')


def identify(ledger: Ledger, n: int) -> int:
    return ledger.execute(
        Actor(name="failover"),
        IdentifyProject(
            name=f"Relais {n}",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2025, 1, 2),
        ),
    ).position


def assert_equal_to_a_clean_rebuild(store: Store) -> None:
    clean_schema = f"{store.reporting_schema}_clean"
    clean = ReadModelDatabase.from_url(store.url, clean_schema)
    try:
        rebuild(store.ledger, clean)
    finally:
        clean.close()
    assert set(differences(store.url, store.reporting_schema, clean_schema).values()) == {0}


@pytest.mark.slow
def test_the_leader_killed_during_a_catch_up_the_other_finishes_each_page_once(
    store: Store, tmp_path: Path
) -> None:
    log = tmp_path / "projectors.log"
    first = start_projector(store.url, store.reporting_schema, log)
    second = None
    try:
        until(lambda: leads_all(store.db, first.pid), what="the first projector to lead")
        second = start_projector(store.url, store.reporting_schema, log)
        until(lambda: followers(store.db) == 1, what="the second projector to follow")
        head = generate(store.ledger, EVENTS, seed=14)
        # Mid-way through the catch-up: the first leads and has applied part of the log.
        until(lambda: store.lowest() >= head // 5, timeout=300, what="a fifth of the log")
        assert leads_all(store.db, first.pid)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = store.lowest()
        assert killed_at < head
        until(lambda: store.lowest() >= head, timeout=300, what="the catch-up to end")
        assert leads_all(store.db, second.pid)
        assert_applied_once_by_one_at_a_time(store.db, head)
        for terms in applied_terms(store.db).values():
            # The first applied the start; the second took over and applied the end.
            assert terms[0].pid == first.pid
            assert terms[-1].pid == second.pid
        assert_equal_to_a_clean_rebuild(store)
    finally:
        stop(first)
        if second is not None:
            stop(second)


def test_a_leader_whose_connection_is_cut_stops_and_the_other_takes_over(
    store: Store, relay: Relay, tmp_path: Path
) -> None:
    log = tmp_path / "projectors.log"
    head = generate(store.ledger, 5_000, seed=15)
    cut_off = start_projector(relay.url(store.url), store.reporting_schema, log)
    direct = None
    try:
        until(lambda: leads_all(store.db, cut_off.pid), what="the relayed projector to lead")
        until(lambda: store.lowest() >= head, what="the first catch-up")
        direct = start_projector(store.url, store.reporting_schema, log)
        until(lambda: followers(store.db) == 1, what="the direct projector to follow")
        before = {name: terms[-1] for name, terms in applied_terms(store.db).items()}

        relay.cut()
        until(lambda: leads_all(store.db, direct.pid), timeout=5, what="a takeover within 5 s")
        for n in range(20):
            head = identify(store.ledger, n)
        until(lambda: store.lowest() >= head, what="the new leader to apply")
        # The cut-off process lives on as a follower (it reconnected through the relay).
        assert cut_off.poll() is None
        until(lambda: followers(store.db) == 1, what="the cut-off process to follow")

        assert_applied_once_by_one_at_a_time(store.db, head)
        for name, terms in applied_terms(store.db).items():
            ended = [t for t in terms if t.pid == cut_off.pid]
            # The cut-off process applied nothing after its last page before the cut.
            assert ended[-1] == before[name]
            assert terms[-1].pid == direct.pid
        found = leaders(store.db)
        assert all(found[name].leader is not None for name in READ_MODELS)
    finally:
        stop(cut_off)
        if direct is not None:
            stop(direct)


def test_a_leader_behind_a_silent_network_loses_the_lead_within_5_seconds(
    store: Store, relay: Relay, tmp_path: Path
) -> None:
    log = tmp_path / "projectors.log"
    silent = start_projector(relay.url(store.url), store.reporting_schema, log)
    direct = None
    try:
        until(lambda: leads_all(store.db, silent.pid), what="the relayed projector to lead")
        direct = start_projector(store.url, store.reporting_schema, log)
        until(lambda: followers(store.db) == 1, what="the direct projector to follow")

        # Nothing is refused, nothing answers: the server ends the silent lock session.
        relay.partition()
        until(lambda: leads_all(store.db, direct.pid), timeout=5, what="a takeover within 5 s")
        head = identify(store.ledger, 0)
        until(lambda: store.lowest() >= head, what="the new leader to apply")
        relay.heal()
        assert_applied_once_by_one_at_a_time(store.db, head)
        for terms in applied_terms(store.db).values():
            assert terms[-1].pid == direct.pid
    finally:
        relay.heal()
        stop(silent)
        if direct is not None:
            stop(direct)


def test_a_rebuild_behind_a_silent_network_loses_its_lock_and_writes_nothing_more(
    store: Store, relay: Relay
) -> None:
    head = generate(store.ledger, 500, seed=16)
    # The first rebuild's lock session goes through the relay; its pages would not.
    relayed = ReadModelDatabase.from_url(relay.url(store.url), store.reporting_schema)
    silent, direct = RebuildLeases(relayed, [TOTALS]), RebuildLeases(store.db, [TOTALS])
    try:
        assert silent.acquire() == []
        relay.partition()
        # The server ends the silent session (idle_session_timeout): the lock is free.
        until(lambda: direct.acquire() == [], timeout=10, what="the second rebuild's lock")
        with pytest.raises(NotLeaderError):
            rebuild(store.ledger, store.db, TOTALS, page_size=100, guard=silent.guard)
        assert rebuild(store.ledger, store.db, TOTALS, page_size=100, guard=direct.guard) == head
        with store.db.transaction(readonly=True) as cur:
            cur.execute(
                f"SELECT term, pages FROM {store.db.table(TERMS)} "  # noqa: S608
                "WHERE role = 'rebuild' ORDER BY term"
            )
            assert cur.fetchall() == [(1, 0), (2, -(-head // 100))]
    finally:
        relay.heal()
        silent.close()
        direct.close()
        relayed.close()
