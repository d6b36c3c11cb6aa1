"""verify_log and the tree's reads on every store: heads, refusals, checkpoints, progress."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.application import Ledger
from domain.commands import IdentifyProject
from domain.values import Actor
from eventstore import merkle
from eventstore.settings import library_env
from eventstore.tree import TreeError, log_tree
from eventstore.verify import verify_log

ACTOR = Actor("verify-test")


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    app = Ledger(env=library_env(store_url))
    yield app
    app.close()


def test_an_empty_log_verifies_and_has_the_empty_root(ledger: Ledger) -> None:
    tree = log_tree(ledger.recorder)
    assert tree.head() == (0, merkle.EMPTY_ROOT)
    assert tree.root() == tree.root(0) == merkle.EMPTY_ROOT
    report = verify_log(ledger.recorder, [(0, merkle.EMPTY_ROOT)])
    assert report.ok
    assert (report.checked, report.tree_size, report.head_position) == (0, 0, 0)
    assert report.head_hash == merkle.EMPTY_ROOT.hex()


def test_head_proofs_and_refusals(ledger: Ledger) -> None:
    ledger.execute(
        ACTOR,
        IdentifyProject(
            name="P",
            territory="region:32",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 1),
        ),
    )
    ledger.recorder.insert_events([StoredEvent(uuid4(), 1, "t", bytes([i])) for i in range(40)])
    tree = log_tree(ledger.recorder)
    size, root = tree.head()
    assert size == tree.size() == ledger.head_position()
    assert root == tree.root() == tree.root(size)
    with pytest.raises(TreeError):
        tree.root(size + 1)
    with pytest.raises(TreeError):
        tree.root(-1)
    with pytest.raises(TreeError):
        tree.inclusion_proof(size, size)
    with pytest.raises(TreeError):
        tree.inclusion_proof(0, size + 1)
    with pytest.raises(TreeError):
        tree.consistency_proof(3, size + 1)
    with pytest.raises(TreeError):
        tree.consistency_proof(size, 3)
    assert tree.consistency_proof(size, size) == []
    assert tree.size_at(0) == 0
    assert tree.size_at(10**9) == size


def test_checkpoints_and_progress(ledger: Ledger) -> None:
    ledger.recorder.insert_events([StoredEvent(uuid4(), 1, "t", b"x") for _ in range(25_000)])
    tree = log_tree(ledger.recorder)
    seen: list[tuple[int, int]] = []
    checkpoints = [(1, tree.root(1)), (12_345, tree.root(12_345)), (25_000, tree.root())]
    report = verify_log(ledger.recorder, checkpoints, lambda n, head: seen.append((n, head)))
    assert report.ok, report.problem
    assert seen == [(10_000, 25_000), (20_000, 25_000)]

    wrong = (12_345, tree.root(12_344))
    report = verify_log(ledger.recorder, [checkpoints[0], wrong])
    assert not report.ok
    assert report.first_bad_position == 12_345
    assert "checkpoint" in (report.problem or "")
