"""A write's growth of the stored tree: the subtrees it completes, leaf by leaf or at once."""

from __future__ import annotations

import hashlib
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import merkle
from eventstore.leaves import (
    STORED_FROM_LEVEL,
    Growth,
    event_leaf_hash,
    leaf_hashes,
    stored_frontier,
    tail_start,
)

LEAVES = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(700)]


def _all_stored(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    n = len(leaves)
    return {
        (level, i): merkle.root_of(leaves[i << level : (i + 1) << level])
        for level in range(STORED_FROM_LEVEL, n.bit_length())
        for i in range(n >> level)
    }


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 400), st.lists(st.integers(1, 60), max_size=6))
def test_growth_stores_every_complete_subtree_and_the_root(first: int, writes: list[int]) -> None:
    # A tree of `first` leaves, then writes of the given sizes, each from the stored frontier.
    stored = _all_stored(LEAVES[:first])
    size = first
    for count in writes:
        frontier = {key: stored[key] for key in stored_frontier(size)}
        growth = Growth(size, frontier, LEAVES[tail_start(size) : size])
        one_by_one = Growth(size, frontier, LEAVES[tail_start(size) : size])
        growth.extend(LEAVES[size : size + count])
        for h in LEAVES[size : size + count]:
            one_by_one.append(h)
        size += count
        new = {(n.level, n.index): n.hash for n in growth.new_nodes}
        assert new == {(n.level, n.index): n.hash for n in one_by_one.new_nodes}
        assert not set(new) & set(stored)  # each subtree is written once
        stored |= new
        assert stored == _all_stored(LEAVES[:size])
        assert growth.root() == one_by_one.root() == merkle.root_of(LEAVES[:size])
        assert growth.size == size


def test_leaf_hashes_follow_the_leaf_input_of_merkle() -> None:
    events = [
        StoredEvent(UUID(int=7), 3, "domain.project:Project.Identified", b'{"a":1}'),
        StoredEvent(UUID(int=9).hex, 1, "é", b""),
    ]
    expected = [
        merkle.leaf_hash(12, UUID(int=9), 1, "é", b""),
        merkle.leaf_hash(15, UUID(int=7), 3, "domain.project:Project.Identified", b'{"a":1}'),
    ]
    assert leaf_hashes([15, 12], events) == expected  # in position order
    assert event_leaf_hash(15, events[0]) == expected[1]
