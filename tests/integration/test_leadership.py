"""Projector leadership: one lock holder per read model, pages guarded by the lock, status."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from demo import generate
from projections.db import ReadModelDatabase
from projections.feed import catch_up, position_of
from projections.generations import generations
from projections.leaders import (
    ProjectorAlreadyRunningError,
    SingleProjectorLock,
    leaders,
)
from projections.leadership import (
    IDLE_SESSION_SECONDS,
    TERMS,
    Leadership,
    Lease,
    NotLeaderError,
    RebuildLeases,
    lock_ids,
    lock_key,
)
from projections.projector import Projector
from projections.rebuild import rebuild
from projections.registry import READ_MODELS, TOTALS
from projections.sql import Cursor
from tests.faults.conftest import _free_port, _wait_until_serving
from tests.integration.conftest import Store
from tests.integration.test_projector import identify


def until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Wait for a database state, looking again every 20 ms, failing after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        pause.wait(0.02)


def terminate(store: Store, backend_pid: int) -> None:
    """End a session from the server side, as a database restart or a broken network would.

    Returns once it has ended (its locks released).
    """
    with psycopg.connect(store.url.partition("?")[0], autocommit=True) as conn:
        row = conn.execute("SELECT pg_terminate_backend(%s, 30000)", (backend_pid,)).fetchone()
        assert row == (True,)


@pytest.fixture
def other_db(pg_store: Store) -> Iterator[ReadModelDatabase]:
    """The same read models opened a second time (another process's view of them)."""
    db = ReadModelDatabase.from_url(pg_store.url, pg_store.reporting_schema)
    yield db
    db.close()


def test_the_lock_key_is_stable_and_differs_by_schema_read_model_and_role() -> None:
    assert lock_key("reporting", "totals") == lock_key("reporting", "totals")
    keys = {
        lock_key("reporting", "totals"),
        lock_key("reporting", "projects"),
        lock_key("reporting_b", "totals"),
        lock_key("reporting", "totals", "rebuild"),
    }
    assert len(keys) == 4
    # Known value: a key must never change between versions (two versions would both lead).
    assert lock_key("reporting", "totals") == -8233809449511857621
    classid, objid = lock_ids(-1)
    assert (classid, objid) == (0xFFFF_FFFF, 0xFFFF_FFFF)


@pytest.mark.postgres
def test_one_lease_holds_a_read_model_and_the_next_takes_over_when_its_session_ends(
    pg_store: Store, other_db: ReadModelDatabase
) -> None:
    first = Lease(pg_store.db, TOTALS)
    second = Lease(other_db, TOTALS)
    try:
        assert first.acquire(0)
        assert first.term is not None
        # A bounded wait, then "no": the lock is held.
        assert not second.acquire(0.2)
        assert second.term is None
        terminate(pg_store, first.term.backend_pid)
        assert second.acquire(5.0)
        assert second.term is not None
        assert second.term.term == first.term.term + 1
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_a_page_commits_only_while_its_lease_holds_the_lock(pg_store: Store) -> None:
    generate(pg_store.ledger, 300, seed=5)
    lease = Lease(pg_store.db, TOTALS)
    assert lease.acquire(0)
    assert lease.term is not None

    def guard(cur: object, read_model: str, first: int, last: int) -> None:
        lease.guard(cur, first, last)  # type: ignore[arg-type]

    reached = catch_up(pg_store.ledger, pg_store.db, TOTALS, page_size=100, guard=guard)
    assert reached == pg_store.ledger.head_position()
    with pg_store.db.transaction(readonly=True) as cur:
        cur.execute(
            f"SELECT first_position, last_position, pages FROM {pg_store.db.table(TERMS)}"  # noqa: S608
        )
        assert cur.fetchall() == [(1, reached, -(-reached // 100))]

    # The lock session ends (the server restarted it, the network cut it): the lease does not
    # know yet, but the next page does, before its commit.
    terminate(pg_store, lease.term.backend_pid)
    head = identify(pg_store)
    with pytest.raises(NotLeaderError):
        catch_up(pg_store.ledger, pg_store.db, TOTALS, page_size=100, guard=guard)
    assert position_of(pg_store.db, TOTALS) == reached < head
    lease.close()


@pytest.mark.postgres
def test_the_status_names_the_leader_and_counts_the_followers(
    pg_store: Store, other_db: ReadModelDatabase
) -> None:
    assert all(found.leader is None for found in leaders(pg_store.db).values())
    leading = Leadership(pg_store.db, wait=0.2)
    following = Leadership(other_db, wait=0.2)
    leading.start()
    try:
        until(lambda: all(leading.leads(name) for name in READ_MODELS), what="a leader")
        following.start()
        until(
            lambda: all(found.followers == 1 for found in leaders(pg_store.db).values()),
            what="a follower",
        )
        found = leaders(pg_store.db)
        for name in READ_MODELS:
            leader = found[name].leader
            assert leader is not None
            assert (leader.pid, leader.host) == (os.getpid(), socket.gethostname())
            assert leader.term == 1
            assert leader.is_this_process()
            assert not following.leads(name)
        # The leader gives up (a SIGTERM): the follower takes over.
        leading.stop()
        until(lambda: all(following.leads(name) for name in READ_MODELS), what="a takeover")
        found = leaders(pg_store.db)
        assert {found[name].leader.term for name in READ_MODELS} == {2}  # type: ignore[union-attr]
        assert all(found[name].followers == 0 for name in READ_MODELS)
    finally:
        leading.stop()
        following.stop()


@pytest.mark.postgres
def test_two_projectors_in_one_database_each_page_applied_once(
    pg_store: Store, other_db: ReadModelDatabase
) -> None:
    head = generate(pg_store.ledger, 3_000, seed=8)
    projectors = [
        Projector(pg_store.ledger, db, page_size=200, poll_interval=0.1, leadership=Leadership(db))
        for db in (pg_store.db, other_db)
    ]
    for projector in projectors:
        projector.start()
    try:
        until(lambda: min(position_of(pg_store.db, n) for n in READ_MODELS) >= head)
    finally:
        for projector in projectors:
            projector.stop()
    with pg_store.db.transaction(readonly=True) as cur:
        cur.execute(
            f"SELECT read_model, first_position, last_position FROM {pg_store.db.table(TERMS)} "  # noqa: S608
            "WHERE pages > 0 ORDER BY read_model, term"
        )
        ranges = cur.fetchall()
    for name in READ_MODELS:
        mine = [(first, last) for model, first, last in ranges if model == name]
        assert mine[0][0] == 1
        assert mine[-1][1] == head
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(mine))


@pytest.mark.postgres
def test_one_rebuild_of_a_read_model_at_a_time(
    pg_store: Store, other_db: ReadModelDatabase
) -> None:
    head = generate(pg_store.ledger, 500, seed=9)
    first = RebuildLeases(pg_store.db, [TOTALS])
    second = RebuildLeases(other_db, READ_MODELS)
    try:
        assert first.acquire() == []
        assert second.acquire() == [TOTALS]
        assert rebuild(pg_store.ledger, pg_store.db, TOTALS, guard=first.guard) == head
        lease = first.leases[TOTALS]
        assert lease.term is not None
        terminate(pg_store, lease.term.backend_pid)
        identify(pg_store)
        with pytest.raises(NotLeaderError):
            rebuild(pg_store.ledger, pg_store.db, TOTALS, guard=first.guard)
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_a_rebuild_that_lost_its_lock_after_its_last_page_swaps_nothing_in(
    pg_store: Store,
) -> None:
    generate(pg_store.ledger, 300, seed=11)
    live = rebuild(pg_store.ledger, pg_store.db, TOTALS)
    identify(pg_store)
    leases = RebuildLeases(pg_store.db, [TOTALS])
    try:
        assert leases.acquire() == []
        term = leases.leases[TOTALS].term
        assert term is not None
        applied: list[tuple[int, int]] = []

        def guard(cur: Cursor, read_model: str, first: int, last: int) -> None:
            if first > last:
                # Every page applied; the lock session ends (a restart, a cut network).
                terminate(pg_store, term.backend_pid)
            else:
                applied.append((first, last))
            leases.guard(cur, read_model, first, last)

        with pytest.raises(NotLeaderError):
            rebuild(pg_store.ledger, pg_store.db, TOTALS, guard=guard)
        assert applied[-1][1] == pg_store.ledger.head_position()
        # The live generation is still the one built first, one event behind.
        assert [(g.generation, g.position) for g in generations(pg_store.db) if g.live] == [
            (1, live)
        ]
    finally:
        leases.close()


def session_outlived(store: Store, backend_pid: int, seconds: float) -> bool:
    """Whether a session has lasted `seconds` by the server's clock, or has ended."""
    with psycopg.connect(store.url.partition("?")[0], autocommit=True) as conn:
        row = conn.execute(
            "SELECT clock_timestamp() - backend_start > make_interval(secs => %s) "
            "FROM pg_stat_activity WHERE pid = %s",
            (seconds, backend_pid),
        ).fetchone()
    return row is None or bool(row[0])


@pytest.mark.postgres
def test_a_rebuild_keeps_its_lock_through_a_page_longer_than_the_idle_session_timeout(
    pg_store: Store,
) -> None:
    # A loaded machine: the first page takes longer than the server lets a lock session idle.
    head = generate(pg_store.ledger, 500, seed=10)
    leases = RebuildLeases(pg_store.db, [TOTALS])
    try:
        assert leases.acquire() == []
        term = leases.leases[TOTALS].term
        assert term is not None

        def slow_guard(cur: Cursor, read_model: str, first: int, last: int) -> None:
            until(
                lambda: session_outlived(pg_store, term.backend_pid, 2 * IDLE_SESSION_SECONDS),
                what="a page longer than the idle session timeout",
            )
            leases.guard(cur, read_model, first, last)

        assert (
            rebuild(pg_store.ledger, pg_store.db, TOTALS, page_size=100, guard=slow_guard) == head
        )
        assert leases.leases[TOTALS].term == term
        with pg_store.db.transaction(readonly=True) as cur:
            cur.execute(
                f"SELECT term, backend_pid, last_position FROM {pg_store.db.table(TERMS)} "  # noqa: S608
                "WHERE role = 'rebuild'"
            )
            assert cur.fetchall() == [(term.term, term.backend_pid, head)]
    finally:
        leases.close()


def test_sqlite_keeps_one_projector_process(sqlite_store: Store, tmp_path: Path) -> None:
    database_file = sqlite_store.db.sqlite_file
    assert database_file is not None
    held = SingleProjectorLock(database_file)
    held.acquire()
    try:
        with pytest.raises(ProjectorAlreadyRunningError, match="one projector process"):
            SingleProjectorLock(database_file).acquire()
        leader = leaders(sqlite_store.db)[TOTALS].leader
        assert leader is not None
        assert leader.pid == os.getpid()
        refused = subprocess.run(
            [sys.executable, "-m", "api.cli", "projector"],
            env={**os.environ, **sqlite_store.environ()},
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 2
        assert "supports one projector process" in " ".join(refused.stderr.decode().split())
    finally:
        held.release()
    assert leaders(sqlite_store.db)[TOTALS].leader is None


def test_a_second_server_on_a_sqlite_store_serves_without_a_projector_and_says_so(
    sqlite_store: Store, tmp_path: Path
) -> None:
    database_file = sqlite_store.db.sqlite_file
    assert database_file is not None
    held = SingleProjectorLock(database_file)
    held.acquire()
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env={**os.environ, **sqlite_store.environ()},
            stdout=out,
            stderr=out,
        )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}", server, log)
        said = " ".join(log.read_text().split())
        assert "supports one projector process" in said
        assert "Serving without one" in said
    finally:
        server.terminate()
        server.wait(30)
        held.release()
