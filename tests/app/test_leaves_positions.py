"""A leaf is found by its event's position, across gaps in the positions, on every store.

PostgreSQL indexes the position of each block's first leaf only (positions grow with leaf
indices); a store written with the older index on every position is given the new one.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from domain.application import Ledger
from eventstore.leaves import BLOCK
from eventstore.postgres import COPY_ABOVE_EVENTS
from eventstore.settings import SQLITE_PERSISTENCE, library_env
from eventstore.tree import log_tree
from eventstore.verify import verify_log


def leaf_rows(url: str) -> list[tuple[int, int]]:
    """(leaf_index, position) of every stored leaf, read by hand."""
    env = library_env(url)
    if env["PERSISTENCE_MODULE"] == SQLITE_PERSISTENCE:
        with closing(sqlite3.connect(env["SQLITE_DBNAME"])) as conn:
            statement = "SELECT leaf_index, position FROM stored_events_leaves ORDER BY leaf_index"
            rows = conn.execute(statement).fetchall()
    else:
        with psycopg.connect(url.partition("?")[0]) as pg:
            rows = pg.execute(
                f'SELECT leaf_index, position FROM "{env["POSTGRES_SCHEMA"]}".'  # noqa: S608
                "ledger_events_leaves ORDER BY leaf_index"
            ).fetchall()
    return [(int(i), int(p)) for i, p in rows]


def events(count: int) -> list[StoredEvent]:
    return [StoredEvent(uuid4(), 1, "t", b'{"n": %d}' % k) for k in range(count)]


def write_with_gaps(url: str) -> Ledger:
    """A log with gaps in its positions (PostgreSQL), and the ledger open on it.

    The ledger's writes choose the positions after the head, so a gap is left by the
    library's own insert, refused after drawing from the sequence, in a store older than
    its tree (hashed when opened).
    """
    ledger = Ledger(env=library_env(url))
    for size in (1, 5, 17, 3, 40):
        ledger.recorder.insert_events(events(size))
    if url.startswith("postgresql"):
        (taken,) = ledger.recorder.select_notifications(start=1, limit=1)
        clash = StoredEvent(taken.originator_id, taken.originator_version, "t", b"{}")
        library = PostgresApplicationRecorder.insert_events
        with pytest.raises(IntegrityError):  # draws positions, then rolls back: a gap
            library(ledger.recorder, [*events(40), clash])
        library(ledger.recorder, events(30))
        ledger.close()
        schema = library_env(url)["POSTGRES_SCHEMA"]
        with psycopg.connect(url.partition("?")[0], autocommit=True) as pg:
            pg.execute(f'DROP TABLE "{schema}".ledger_events_leaves')
            pg.execute(f'DROP TABLE "{schema}".ledger_events_tree_nodes')
        ledger = Ledger(env=library_env(url))  # hashes the events, gaps and all
        ledger.recorder.insert_events(events(COPY_ABOVE_EVENTS + 1))  # a COPY
    for size in (2, 31):
        ledger.recorder.insert_events(events(size))
    return ledger


def check_lookups(ledger: Ledger, url: str) -> None:
    """Every position, stored or not, answers as the leaves read by hand say."""
    rows = leaf_rows(url)
    by_position = {p: i for i, p in rows}
    head = rows[-1][1]
    tree = log_tree(ledger.recorder)
    wanted = range(0, head + 3)
    found = tree.leaf_hashes(wanted)
    assert sorted(found) == sorted(by_position)
    for position in wanted:
        leaf = tree.leaf(position)
        if position in by_position:
            assert leaf is not None
            assert (leaf.leaf_index, leaf.position) == (by_position[position], position)
        else:
            assert leaf is None
    gaps = [p for p in wanted if p not in by_position]
    edges = {i * BLOCK + d for i in range(len(rows) // BLOCK + 1) for d in (-1, 0, 1)}
    for position in {*range(0, 60), *gaps, *(rows[i][1] for i in edges if 0 <= i < len(rows))}:
        expected = sum(1 for p in by_position if p <= position)
        assert tree.size_at(position) == expected, position


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_leaves_are_found_by_position_across_gaps(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/ledger.sqlite3"
        if kind == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    ledger = write_with_gaps(url)
    try:
        if kind == "postgres":
            positions = [p for _, p in leaf_rows(url)]
            assert positions[-1] > len(positions)  # there is a gap
        check_lookups(ledger, url)
        assert verify_log(ledger.recorder).ok
    finally:
        ledger.close()


@pytest.mark.postgres
def test_a_store_with_the_older_position_index_gets_the_block_index(postgres_url: str) -> None:
    schema = library_env(postgres_url)["POSTGRES_SCHEMA"]
    ledger = write_with_gaps(postgres_url)
    root = log_tree(ledger.recorder).root()
    ledger.close()
    with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as pg:
        # As the code of 2026-12-04 left it: an index on every leaf's position.
        pg.execute(f'DROP INDEX "{schema}".ledger_events_leaves_block_position')
        pg.execute(
            f'CREATE INDEX ledger_events_leaves_position ON "{schema}".ledger_events_leaves '
            "(position)"
        )

    ledger = Ledger(env=library_env(postgres_url))  # migrates the index
    try:
        with psycopg.connect(postgres_url.partition("?")[0]) as pg:
            indexes = {
                name
                for (name,) in pg.execute(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = %s "
                    "AND tablename = 'ledger_events_leaves'",
                    (schema,),
                )
            }
        assert indexes == {"ledger_events_leaves_pkey", "ledger_events_leaves_block_position"}
        assert log_tree(ledger.recorder).root() == root
        ledger.recorder.insert_events(events(7))
        check_lookups(ledger, postgres_url)
        assert verify_log(ledger.recorder).ok
    finally:
        ledger.close()
