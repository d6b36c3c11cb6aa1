"""PostgreSQL: small writes hashed from the tip the writing process keeps (stale tips too)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.application import Ledger
from eventstore import merkle
from eventstore.settings import library_env
from eventstore.tree import log_tree
from eventstore.verify import verify_log
from tests.app.test_leaves import leaf_rows, positions

pytestmark = pytest.mark.postgres


@pytest.fixture
def two(postgres_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    # Two applications with their own pools, as two processes would have.
    first, second = Ledger(env=library_env(postgres_url)), Ledger(env=library_env(postgres_url))
    yield first, second
    first.close()
    second.close()


def events(count: int) -> list[StoredEvent]:
    return [StoredEvent(uuid4(), 1, "test.topic", f'{{"n": {n}}}'.encode()) for n in range(count)]


def test_writers_that_take_turns_reread_a_stale_tip(
    two: tuple[Ledger, Ledger], postgres_url: str
) -> None:
    first, second = two
    tip_of = {app: app.recorder.tree.tip for app in two}  # type: ignore[attr-defined]
    written: list[int] = []
    for round_ in range(20):
        for app in (first, second):
            written += app.recorder.insert_events(events(1 + round_ % 5)) or []
    # Each write after the other application's found its kept tip stale and read it again.
    assert tip_of[first].reloads >= 19
    assert tip_of[second].reloads >= 19
    recorded = positions(first)
    assert written == recorded
    assert leaf_rows(postgres_url) == list(enumerate(recorded))
    report = verify_log(first.recorder)
    assert report.ok, report.problem
    assert report.tree_size == len(recorded)


def test_copies_and_refused_writes_between_small_writes(
    two: tuple[Ledger, Ledger], postgres_url: str
) -> None:
    first, second = two
    small = first.recorder.insert_events(events(3)) or []
    # A COPY draws its positions from the sequence: after the small write's chosen ones.
    large = second.recorder.insert_events(events(2500)) or []
    assert min(large) > max(small)
    again = first.recorder.insert_events(events(2)) or []
    assert min(again) > max(large)
    # A refused write (a version already stored) keeps nothing of what it would have grown.
    taken = StoredEvent(uuid4(), 1, "test.topic", b"{}")
    first.recorder.insert_events([taken])
    with pytest.raises(IntegrityError):
        first.recorder.insert_events([StoredEvent(uuid4(), 1, "t", b"{}"), taken])
    last = first.recorder.insert_events(events(17)) or []
    recorded = positions(first)
    assert recorded[-17:] == last
    assert leaf_rows(postgres_url) == list(enumerate(recorded))
    tree = log_tree(first.recorder)
    size, root = tree.head()
    assert size == len(recorded) == 3 + 2500 + 2 + 1 + 17
    hashes = tree.leaf_hashes(recorded)
    assert root == merkle.root_of([hashes[p] for p in recorded])
    assert verify_log(first.recorder).ok
