"""Tampering with the stored log behind the ledger's back is found, at the right position."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.application import Ledger
from domain.commands import IdentifyProject, LaunchStudy
from domain.values import Actor
from eventstore import merkle
from eventstore.leaves import STORED_FROM_LEVEL, Growth
from eventstore.settings import (
    POSTGRES_EVENTS_TABLE,
    SQLITE_EVENTS_TABLE,
    SQLITE_PERSISTENCE,
    leaves_table,
    library_env,
    nodes_table,
)
from eventstore.tree import log_tree
from eventstore.verify import verify_log

ACTOR = Actor("auditor-test")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    value: str = request.getfixturevalue("postgres_url")
    return value


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    app = Ledger(env=library_env(url))
    for n in range(4):  # 4 projects, 10 studies each, in batches of varied size
        project = app.execute(
            ACTOR,
            IdentifyProject(
                name=f"Projet {n}",
                territory="region:32",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2024, 1, 1),
            ),
        ).id
        for size in (1, 2, 3, 4):
            app.execute_batch(
                ACTOR,
                [
                    LaunchStudy(
                        project_id=project,
                        amount=f"{n}{size}{k}.00",
                        launched_on=date(2024, 3, 1),
                        subject="s",
                    )
                    for k in range(size)
                ],
            )
    yield app
    app.close()


class Store:
    """Hand-run SQL on the ledger's tables, as someone with database access would."""

    def __init__(self, url: str) -> None:
        self.url = url
        env = library_env(url)
        self.sqlite = env["PERSISTENCE_MODULE"] == SQLITE_PERSISTENCE
        if self.sqlite:
            self.path = env["SQLITE_DBNAME"]
            events, prefix = SQLITE_EVENTS_TABLE, ""
            self.names = {"pos": "rowid"}
        else:
            events, prefix = POSTGRES_EVENTS_TABLE, f'"{env["POSTGRES_SCHEMA"]}".'
            self.names = {"pos": "notification_id"}
        self.names |= {
            "events": prefix + events,
            "leaves": prefix + leaves_table(events),
            "nodes": prefix + nodes_table(events),
        }

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = statement.format(**self.names)
        if self.sqlite:
            with closing(sqlite3.connect(self.path)) as conn, conn:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
        with psycopg.connect(self.url.partition("?")[0], autocommit=True) as pg:
            curs = pg.execute(sql.encode(), params)
            return curs.fetchall() if curs.description else []

    def event(self, position: int) -> tuple[UUID, int, str, bytes]:
        (row,) = self.run(
            "SELECT originator_id, originator_version, topic, state FROM {events} WHERE {pos} = %s",
            (position,),
        )
        return UUID(str(row[0])), int(row[1]), str(row[2]), bytes(row[3])

    def set_state(self, position: int, state: bytes) -> None:
        self.run("UPDATE {events} SET state = %s WHERE {pos} = %s", (state, position))

    def rehash_leaf(self, position: int) -> bytes:
        """Rewrite a leaf's hash to match its event's (altered) bytes."""
        aggregate, version, topic, state = self.event(position)
        new = merkle.leaf_hash(position, aggregate, version, topic, state)
        self.run("UPDATE {leaves} SET hash = %s WHERE position = %s", (new, position))
        return new

    def rebuild_tree(self) -> None:
        """Rewrite every leaf's copy of its predecessor and every stored subtree."""
        rows = self.run("SELECT leaf_index, hash FROM {leaves} ORDER BY leaf_index")
        growth = Growth(0, {}, [])
        previous: bytes | None = None
        for index, h in rows:
            self.run("UPDATE {leaves} SET previous = %s WHERE leaf_index = %s", (previous, index))
            growth.append(bytes(h))
            previous = bytes(h)
        self.run("DELETE FROM {nodes}")
        for node in growth.new_nodes:
            self.run(
                "INSERT INTO {nodes} (level, idx, hash) VALUES (%s, %s, %s)",
                (node.level, node.index, node.hash),
            )


def test_a_healthy_log_verifies(ledger: Ledger) -> None:
    tree = log_tree(ledger.recorder)
    head = ledger.head_position()
    report = verify_log(ledger.recorder, [(10, tree.root(10)), (head, tree.root(head))])
    assert report.ok, report.problem
    assert report.checked == report.tree_size == head
    assert report.head_position == head
    assert report.head_hash == tree.root().hex()
    assert report.first_bad_position is None


def test_an_updated_event_is_found(ledger: Ledger, url: str) -> None:
    store = Store(url)
    store.set_state(17, store.event(17)[3].replace(b"s", b"t"))
    report = verify_log(ledger.recorder)
    assert not report.ok
    assert report.first_bad_position == 17
    assert "position 17" in (report.problem or "")
    assert "does not hash to its leaf" in (report.problem or "")


def test_a_deleted_event_is_found(ledger: Ledger, url: str) -> None:
    Store(url).run("DELETE FROM {events} WHERE {pos} = %s", (23,))
    report = verify_log(ledger.recorder)
    assert report.first_bad_position == 23
    assert "is missing" in (report.problem or "")


def test_two_swapped_events_are_found(ledger: Ledger, url: str) -> None:
    store = Store(url)
    twelve, twenty = store.event(12)[3], store.event(20)[3]
    store.set_state(12, twenty)
    store.set_state(20, twelve)
    report = verify_log(ledger.recorder)
    assert report.first_bad_position == 12


def test_an_event_inserted_behind_the_ledgers_back_is_found(ledger: Ledger, url: str) -> None:
    store = Store(url)
    head = ledger.head_position()
    aggregate, version, topic, state = store.event(40)
    original = aggregate.hex if store.sqlite else aggregate
    store.run(
        "INSERT INTO {events} (originator_id, originator_version, topic, state) "
        "VALUES (%s, %s, %s, %s)",
        (original, version + 100, topic, state),
    )
    report = verify_log(ledger.recorder)
    assert report.first_bad_position == head + 1
    assert "has no leaf" in (report.problem or "")


def test_a_leaf_rewritten_to_match_altered_bytes_is_found(ledger: Ledger, url: str) -> None:
    store = Store(url)
    head = ledger.head_position()
    checkpoint = (head, log_tree(ledger.recorder).root())
    store.set_state(9, store.event(9)[3].replace(b"s", b"t"))
    store.rehash_leaf(9)

    # The next leaf's copy of leaf 8's hash names the event.
    report = verify_log(ledger.recorder)
    assert report.first_bad_position == 9
    assert "rewritten" in (report.problem or "")

    # With that copy rewritten too, the stored subtree over leaves 0..15 still differs.
    store.run(
        "UPDATE {leaves} SET previous = (SELECT hash FROM {leaves} WHERE position = 9) "
        "WHERE position = 10"
    )
    report = verify_log(ledger.recorder)
    assert not report.ok
    assert report.first_bad_position == 1  # the first of the subtree's positions
    assert f"leaves 0..{(1 << STORED_FROM_LEVEL) - 1}" in (report.problem or "")

    # With every node rewritten, only a checkpoint kept by an auditor tells.
    store.rebuild_tree()
    assert verify_log(ledger.recorder).ok
    report = verify_log(ledger.recorder, [checkpoint])
    assert not report.ok
    assert "checkpoint" in (report.problem or "")
    assert report.first_bad_position == head  # "at or before position {head}"


def test_a_log_truncated_after_a_checkpoint_is_found(ledger: Ledger, url: str) -> None:
    store = Store(url)
    head = ledger.head_position()
    checkpoint = (head, log_tree(ledger.recorder).root())
    store.run("DELETE FROM {events} WHERE {pos} > 30")
    store.run("DELETE FROM {leaves} WHERE position > 30")
    store.run("DELETE FROM {nodes} WHERE (idx + 1) * (1 << level) > 30")
    assert verify_log(ledger.recorder).ok  # alone, a shorter log is a log
    report = verify_log(ledger.recorder, [checkpoint])
    assert report.first_bad_position == 31
    assert f"fewer than the checkpoint's {head}" in (report.problem or "")
