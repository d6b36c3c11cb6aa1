"""Every recorded event gets exactly one Merkle leaf, in the transaction that records it."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.application import Ledger
from domain.commands import IdentifyProject, LaunchStudy
from domain.values import Actor
from eventstore import merkle
from eventstore.postgres import COPY_ABOVE_EVENTS
from eventstore.settings import SQLITE_PERSISTENCE, library_env
from eventstore.tree import log_tree
from eventstore.verify import verify_log

ACTOR = Actor("leaves-test")
FIXTURES = Path(__file__).parents[1] / "fixtures"


def identify(ledger: Ledger, name: str = "Projet") -> UUID:
    return ledger.execute(
        ACTOR,
        IdentifyProject(
            name=name,
            territory="region:32",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 1),
        ),
    ).id


def study(project: UUID, amount: str = "10.00") -> LaunchStudy:
    return LaunchStudy(project_id=project, amount=amount, launched_on=date(2024, 3, 1), subject="s")


def leaf_rows(url: str) -> list[tuple[int, int]]:
    """(leaf_index, position) of every stored leaf, read by hand."""
    env = library_env(url)
    if env["PERSISTENCE_MODULE"] == SQLITE_PERSISTENCE:
        with closing(sqlite3.connect(env["SQLITE_DBNAME"])) as conn:
            rows = conn.execute(
                "SELECT leaf_index, position FROM stored_events_leaves ORDER BY leaf_index"
            ).fetchall()
    else:
        with psycopg.connect(url.partition("?")[0]) as pg:
            rows = pg.execute(
                f'SELECT leaf_index, position FROM "{env["POSTGRES_SCHEMA"]}".'  # noqa: S608
                "ledger_events_leaves ORDER BY leaf_index"
            ).fetchall()
    return [(int(i), int(p)) for i, p in rows]


def positions(ledger: Ledger) -> list[int]:
    out: list[int] = []
    start = 1
    while page := ledger.recorder.select_notifications(start=start, limit=1000):
        out += [n.id for n in page]
        start = page[-1].id + 1
    return out


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    app = Ledger(env=library_env(store_url))
    yield app
    app.close()


def test_each_event_has_one_leaf_and_the_tree_answers_proofs(ledger: Ledger) -> None:
    project = identify(ledger)
    for size in (1, 3, 17, 40):
        ledger.execute_batch(ACTOR, [study(project, f"{size}.{k:02d}") for k in range(size)])
    # A large write (PostgreSQL: COPY), then small ones again.
    ledger.recorder.insert_events([StoredEvent(uuid4(), 1, "t", b"{}") for _ in range(2100)])
    ledger.execute(ACTOR, study(project, "7.00"))
    tree = log_tree(ledger.recorder)
    size = tree.size()
    assert size == ledger.head_position() == len(positions(ledger))
    hashes = tree.leaf_hashes(positions(ledger))
    leaves = [hashes[p] for p in positions(ledger)]
    assert tree.root() == merkle.root_of(leaves)
    for n in (1, 2, 15, 16, 17, size - 1, size):
        assert tree.root(n) == merkle.root_of(leaves[:n])
        for i in {0, n // 2, n - 1}:
            proof = tree.inclusion_proof(i, n)
            assert merkle.verify_inclusion(i, n, leaves[i], proof, tree.root(n))
            assert len(proof) <= 2 * max(1, (n - 1).bit_length())
        assert merkle.verify_consistency(
            n, size, tree.root(n), tree.root(), tree.consistency_proof(n, size)
        )
    leaf = tree.leaf(positions(ledger)[5])
    assert leaf is not None
    assert (leaf.leaf_index, leaf.hash) == (5, leaves[5])
    assert tree.size_at(positions(ledger)[5]) == 6
    assert tree.leaf(10**9) is None
    assert verify_log(ledger.recorder).ok


def test_a_refused_write_leaves_no_leaf(ledger: Ledger, store_url: str) -> None:
    identify(ledger)
    before = log_tree(ledger.recorder).size()
    (taken,) = ledger.recorder.select_notifications(start=1, limit=1)
    clash = StoredEvent(taken.originator_id, taken.originator_version, "t", b"{}")
    with pytest.raises(IntegrityError):  # a concurrent writer's version: all or nothing
        ledger.recorder.insert_events([StoredEvent(uuid4(), 1, "t", b"{}"), clash])
    assert log_tree(ledger.recorder).size() == before
    if store_url != "memory://":
        assert [i for i, _ in leaf_rows(store_url)] == list(range(before))
    assert verify_log(ledger.recorder).ok


@pytest.mark.parametrize("size", [3, 2500])  # one INSERT, or COPY
def test_a_write_that_fails_while_adding_leaves_records_nothing(
    ledger: Ledger, store_url: str, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    if store_url == "memory://":
        pytest.skip("the in-memory store computes leaves before it changes anything")
    project = identify(ledger)
    tree = ledger.recorder.tree  # type: ignore[attr-defined]
    # The step after the leaves are written, before the COMMIT: on PostgreSQL, the one
    # statement of a small write (events, leaves, subtrees) or a COPY's subtrees.
    target, last_step = (
        (tree, "append")
        if "sqlite" in store_url
        else (tree.tip, "send")
        if size <= COPY_ABOVE_EVENTS
        else (tree, "write_nodes")
    )
    original = getattr(type(target), last_step)

    def write_then_fail(self: Any, *args: Any) -> None:
        original(self, *args)  # the leaves are written in the transaction …
        raise RuntimeError("disk full")  # … which then fails before its COMMIT

    head = ledger.head_position()
    monkeypatch.setattr(type(target), last_step, write_then_fail)
    events = [StoredEvent(uuid4(), 1, "test.topic", b"{}") for _ in range(size)]
    with pytest.raises(RuntimeError, match="disk full"):
        ledger.recorder.insert_events(events)
    monkeypatch.undo()
    assert ledger.head_position() == head
    assert [i for i, _ in leaf_rows(store_url)] == list(range(head))
    ledger.execute(ACTOR, study(project))
    assert verify_log(ledger.recorder).ok


def test_concurrent_writers_get_dense_leaves(store_url: str) -> None:
    # Several applications (each its own pool, as several processes would have) and several
    # threads each: group commit batches their writes.
    apps = [Ledger(env=library_env(store_url)) for _ in range(1 if store_url == "memory://" else 3)]
    try:
        projects = [identify(apps[0], f"P{n}") for n in range(6)]
        failures: list[BaseException] = []

        def write(app: Ledger, project: UUID) -> None:
            try:
                for k in range(15):
                    app.execute(ACTOR, study(project, f"1.{k:02d}"))
            except BaseException as error:
                failures.append(error)

        threads = [
            threading.Thread(target=write, args=(apps[n % len(apps)], project))
            for n, project in enumerate(projects)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures
        recorded = positions(apps[0])
        assert len(recorded) == apps[0].head_position() >= 6 + 6 * 15
        if store_url != "memory://":
            rows = leaf_rows(store_url)
            assert [i for i, _ in rows] == list(range(len(recorded)))
            assert [p for _, p in rows] == recorded
        report = verify_log(apps[0].recorder)
        assert report.ok, report.problem
        assert report.tree_size == len(recorded)
    finally:
        for app in apps:
            app.close()


def _drop_tree(url: str) -> None:
    env = library_env(url)
    if env["PERSISTENCE_MODULE"] == SQLITE_PERSISTENCE:
        with closing(sqlite3.connect(env["SQLITE_DBNAME"])) as conn, conn:
            conn.execute("DROP TABLE stored_events_leaves")
            conn.execute("DROP TABLE stored_events_tree_nodes")
    else:
        schema = env["POSTGRES_SCHEMA"]
        with psycopg.connect(url.partition("?")[0], autocommit=True) as pg:
            pg.execute(f'DROP TABLE "{schema}".ledger_events_leaves')
            pg.execute(f'DROP TABLE "{schema}".ledger_events_tree_nodes')


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_store_older_than_its_tree_is_hashed_once_to_the_same_root(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'older.sqlite3'}"
        if kind == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    app = Ledger(env=library_env(url))
    project = identify(app)
    for size in (5, 20):
        app.execute_batch(ACTOR, [study(project, f"{size}.{k:02d}") for k in range(size)])
    root = log_tree(app.recorder).root()
    app.close()
    _drop_tree(url)

    app = Ledger(env=library_env(url))  # creates the tables and hashes the events
    try:
        assert log_tree(app.recorder).root() == root
        assert verify_log(app.recorder).ok
        app.execute(ACTOR, study(project, "1.00"))
        assert verify_log(app.recorder).ok
    finally:
        app.close()


@pytest.mark.parametrize("fixture", ["store-2026-11.sqlite3", "store-2026-12.sqlite3"])
def test_the_older_fixture_stores_get_their_tree(fixture: str, tmp_path: Path) -> None:
    copy = tmp_path / fixture
    shutil.copy(FIXTURES / fixture, copy)
    app = Ledger(env=library_env(f"sqlite:///{copy}"))
    try:
        head = app.head_position()
        report = verify_log(app.recorder)
        assert report.ok, report.problem
        assert report.tree_size == report.checked == len(positions(app))
        assert report.head_position == head
    finally:
        app.close()
    # Opened again: nothing is hashed twice, and the leaves are as they were.
    rows = leaf_rows(f"sqlite:///{copy}")
    again = Ledger(env=library_env(f"sqlite:///{copy}"))
    try:
        assert leaf_rows(f"sqlite:///{copy}") == rows
    finally:
        again.close()


def test_leaves_deleted_later_are_reported_not_rehashed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    app = Ledger(env=library_env(url))
    identify(app)
    app.close()
    with closing(sqlite3.connect(tmp_path / "ledger.sqlite3")) as conn, conn:
        conn.execute("DELETE FROM stored_events_leaves")
    app = Ledger(env=library_env(url))
    try:
        report = verify_log(app.recorder)
        assert report.first_bad_position == 1
        assert "has no leaf" in (report.problem or "")
    finally:
        app.close()
