"""What every store keeps of the log's Merkle tree, and how a write grows it.

Each stored event has a leaf `(leaf_index, position, hash)`; leaves are numbered 0, 1, 2, …
in position order, in the transaction that records the event. The store also keeps the hash
of every complete perfect subtree from level `STORED_FROM_LEVEL` up (`(level, index,
hash)`, a sixteenth of the leaves' count and less): a smaller subtree is hashed from its
at most 2^STORED_FROM_LEVEL leaves, read in one range. So a tree head or a proof costs two
reads (one of nodes, one of leaves), whatever the log's size.

A write reads the *frontier* of the tree it extends (the stored subtrees of its size's
binary decomposition and the leaves after the last stored one) and `Growth` appends the
new leaves to it, giving the nodes they complete.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from eventstore import merkle
from eventstore.merkle import Subtree

# Subtrees of 2^4 = 16 leaves and more are stored; smaller ones are hashed from leaves.
STORED_FROM_LEVEL = 4
BLOCK = 1 << STORED_FROM_LEVEL


@dataclass(frozen=True)
class Leaf:
    """One event's place in the tree."""

    leaf_index: int
    position: int
    hash: bytes


@dataclass(frozen=True)
class Node:
    """A stored perfect subtree: the leaves [index·2^level, (index+1)·2^level)."""

    level: int
    index: int
    hash: bytes


def event_leaf_hash(position: int, event: StoredEvent) -> bytes:
    """The leaf hash of a stored event recorded at a log position."""
    originator = event.originator_id
    aggregate = originator if isinstance(originator, UUID) else UUID(str(originator))
    return merkle.leaf_hash(
        position, aggregate, event.originator_version, event.topic, bytes(event.state)
    )


def stored_frontier(size: int) -> list[Subtree]:
    """The stored subtrees a tree of `size` leaves starts with (largest first)."""
    return [key for key in merkle.frontier(size) if key[0] >= STORED_FROM_LEVEL]


def tail_start(size: int) -> int:
    """The first leaf not under a stored subtree of a tree of `size` leaves."""
    return size - size % BLOCK


class Growth:
    """A tree's frontier, appended to: the nodes each new leaf completes."""

    def __init__(self, size: int, nodes: Mapping[Subtree, bytes], tail: Sequence[bytes]) -> None:
        """Start from a tree of `size` leaves: its stored frontier nodes and tail leaves."""
        if len(tail) != size - tail_start(size):
            raise ValueError(f"a tree of {size} leaves has {size % BLOCK} tail leaves")
        self.size = tail_start(size)
        self._stack: list[tuple[int, int, bytes]] = [
            (level, index, nodes[(level, index)]) for level, index in stored_frontier(size)
        ]
        self.new_nodes: list[Node] = []
        for h in tail:
            self._push(h, record=False)

    @classmethod
    def resume(cls, size: int, stack: Sequence[tuple[int, int, bytes]]) -> Growth:
        """Continue from a frontier kept by `stack` (from an earlier growth's `stack`)."""
        growth = cls(0, {}, [])
        growth.size = size
        growth._stack = list(stack)
        return growth

    @property
    def stack(self) -> tuple[tuple[int, int, bytes], ...]:
        """The frontier as grown so far: (level, index, hash) of size's binary decomposition."""
        return tuple(self._stack)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf."""
        self._push(leaf_hash, record=True)

    def extend(self, hashes: Sequence[bytes]) -> None:
        """Add many leaves at once: level by level, each pair hashed once (a write's way)."""
        if not hashes:
            return
        frontier = {level: (index, h) for level, index, h in self._stack}
        node = merkle.node_hash
        items, start, level = list(hashes), self.size, 0
        end = self.size + len(items)
        while items:
            if start & 1:  # the left sibling of the first is the frontier's subtree here
                items.insert(0, frontier.pop(level)[1])
                start -= 1
            if len(items) & 1:
                frontier[level] = (start + len(items) - 1, items.pop())
            else:
                frontier.pop(level, None)
            items = [node(items[i], items[i + 1]) for i in range(0, len(items), 2)]
            start >>= 1
            level += 1
            if level >= STORED_FROM_LEVEL:
                self.new_nodes.extend(Node(level, start + i, h) for i, h in enumerate(items))
        self._stack = [
            (level, *frontier[level])
            for level in range(end.bit_length() - 1, -1, -1)
            if end >> level & 1
        ]
        self.size = end

    def _push(self, h: bytes, *, record: bool) -> None:
        stack = self._stack
        stack.append((0, self.size, h))
        self.size += 1
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            level, index, right = stack.pop()
            _, _, left = stack.pop()
            node = (level + 1, index >> 1, merkle.node_hash(left, right))
            stack.append(node)
            if record and node[0] >= STORED_FROM_LEVEL:
                self.new_nodes.append(Node(*node))

    def root(self) -> bytes:
        """The root of the tree as grown so far."""
        return merkle.fold([h for _, _, h in self._stack])


class TreeStore(Protocol):
    """The reads a store answers for `eventstore.tree.LogTree` (all O(log n) or less)."""

    def tree_size(self) -> int:
        """The number of leaves."""
        ...

    def frontier(self) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        """In one read: the tree size, its stored frontier subtrees and the leaves after them."""
        ...

    def hashes(
        self, keys: Collection[Subtree], indices: Collection[int]
    ) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        """In one read: the tree size, {(level, index): hash} of the given stored subtrees
        and {leaf index: hash} of the given leaves (those that exist)."""
        ...

    def leaves_at_positions(self, positions: Collection[int]) -> list[Leaf]:
        """The leaves of events at the given log positions."""
        ...

    def size_at(self, position: int) -> int:
        """The number of leaves at positions up to `position`."""
        ...


@dataclass(frozen=True)
class ScannedEvent:
    position: int
    aggregate_id: UUID
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class ScannedLeaf:
    leaf_index: int
    position: int
    hash: bytes
    previous: bytes | None  # the hash of leaf_index - 1, as this leaf keeps it


class LogScan(Protocol):
    """For `eventstore.verify`: a consistent snapshot of events, leaves and subtrees."""

    head_position: int

    def events(self) -> Iterator[ScannedEvent]:
        """Every stored event, in position order."""
        ...

    def leaves(self) -> Iterator[ScannedLeaf]:
        """Every stored leaf, in leaf-index order."""
        ...

    def nodes(self) -> Iterator[Node]:
        """Every stored subtree, in the order leaves complete them (last leaf, then level)."""
        ...


def leaves_of(
    first_index: int, positions: Sequence[int], events: Sequence[StoredEvent]
) -> list[Leaf]:
    """The leaves of events just recorded at these positions, numbered from `first_index`."""
    ordered = sorted(zip(positions, events, strict=True), key=lambda pair: pair[0])
    return [
        Leaf(first_index + i, position, event_leaf_hash(position, event))
        for i, (position, event) in enumerate(ordered)
    ]


def leaf_hashes(positions: Sequence[int], events: Sequence[StoredEvent]) -> list[bytes]:
    """The leaf hashes of events recorded at these positions, in position order (fast)."""
    if any(a >= b for a, b in itertools.pairwise(positions)):
        ordered = sorted(zip(positions, events, strict=True), key=_first)
        positions, events = [p for p, _ in ordered], [e for _, e in ordered]
    return column_hashes(
        positions,
        [e.originator_id for e in events],
        [e.originator_version for e in events],
        [e.topic for e in events],
        [e.state for e in events],
    )


def column_hashes(
    positions: Iterable[int],
    ids: Iterable[UUID | str],
    versions: Iterable[int],
    topics: Iterable[str],
    states: Iterable[bytes],
) -> list[bytes]:
    """The leaf hashes of events given as columns, in the order given."""
    pack = _LEAF_HEAD.pack
    sha256 = hashlib.sha256
    join = b"".join
    encoded: dict[str, bytes] = {}  # a topic's length and UTF-8 bytes (a write has few topics)
    out = []
    for position, originator, version, topic, state in zip(
        positions, ids, versions, topics, states, strict=True
    ):
        aggregate = originator if originator.__class__ is UUID else UUID(str(originator))
        prefix = encoded.get(topic)
        if prefix is None:
            raw = topic.encode("utf-8")
            prefix = encoded[topic] = len(raw).to_bytes(4, "big") + raw
        head = pack(0, position, aggregate.bytes, version)
        out.append(sha256(join((head, prefix, len(state).to_bytes(4, "big"), state))).digest())
    return out


def _first(pair: tuple[int, StoredEvent]) -> int:
    return pair[0]


# The leaf prefix and the fixed part of eventstore.merkle.leaf_input.
_LEAF_HEAD = struct.Struct(">BQ16sQ")


def grow(growth: Growth, leaves: Iterable[Leaf]) -> list[Node]:
    """Append the leaves; the nodes they complete."""
    for leaf in leaves:
        growth.append(leaf.hash)
    return growth.new_nodes
