"""The in-process store: the library's, with event positions, the log's tree and group commit."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    EventStore,
    Mapper,
    StoredEvent,
)
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from eventstore.group_commit import grouped
from eventstore.leaves import (
    Growth,
    Leaf,
    Node,
    ScannedEvent,
    ScannedLeaf,
    leaves_of,
    stored_frontier,
    tail_start,
)
from eventstore.merkle import Subtree


class LedgerPOPORecorder(POPOApplicationRecorder):
    """The library's in-memory application recorder, telling where events stand.

    Each event's leaf and the subtrees it completes are kept under the recorder's lock,
    with the event (`eventstore.leaves`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.leaves: list[Leaf] = []
        self.nodes: dict[Subtree, bytes] = {}

    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Return {aggregate version: global log position} for one aggregate's events."""
        index = self._stored_events_index.get(str(originator_id), {})
        return {version: i + 1 for version, i in index.items()}

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Called under the lock, after the uniqueness checks: nothing can fail after it.
        size = len(self.leaves)
        growth = Growth(
            size,
            {key: self.nodes[key] for key in stored_frontier(size)},
            [leaf.hash for leaf in self.leaves[tail_start(size) :]],
        )
        first = len(self._stored_events) + 1
        leaves = leaves_of(size, range(first, first + len(stored_events)), stored_events)
        growth.extend([leaf.hash for leaf in leaves])
        ids = super()._update_table(stored_events, **kwargs)
        self.leaves.extend(leaves)
        self.nodes.update({(n.level, n.index): n.hash for n in growth.new_nodes})
        return ids

    def tree_store(self) -> PopoTreeStore:
        """The reads of the log's tree (`eventstore.tree.log_tree`)."""
        return PopoTreeStore(self)


class PopoTreeStore:
    """The in-memory recorder's tree, read under its lock."""

    def __init__(self, recorder: LedgerPOPORecorder) -> None:
        self.recorder = recorder

    def tree_size(self) -> int:
        with self.recorder._database_lock:
            return len(self.recorder.leaves)

    def frontier(self) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        with self.recorder._database_lock:
            leaves, nodes = self.recorder.leaves, self.recorder.nodes
            size = len(leaves)
            tail = {i: leaves[i].hash for i in range(tail_start(size), size)}
            return size, {key: nodes[key] for key in stored_frontier(size)}, tail

    def hashes(
        self, keys: Collection[Subtree], indices: Collection[int]
    ) -> tuple[int, dict[Subtree, bytes], dict[int, bytes]]:
        with self.recorder._database_lock:
            leaves, nodes = self.recorder.leaves, self.recorder.nodes
            found = {key: nodes[key] for key in keys if key in nodes}
            return len(leaves), found, {i: leaves[i].hash for i in indices if i < len(leaves)}

    def leaves_at_positions(self, positions: Collection[int]) -> list[Leaf]:
        # Memory positions have no gaps: position p is leaf p - 1.
        with self.recorder._database_lock:
            leaves = self.recorder.leaves
            found = [leaves[p - 1] for p in positions if 0 < p <= len(leaves)]
            return [leaf for leaf in found if leaf.position in positions]

    def size_at(self, position: int) -> int:
        with self.recorder._database_lock:
            return max(0, min(position, len(self.recorder.leaves)))

    @contextmanager
    def scan(self) -> Iterator[PopoScan]:
        """A copy of the whole log for `eventstore.verify.verify_log`."""
        recorder = self.recorder
        with recorder._database_lock:
            scan = PopoScan(
                list(recorder._stored_events), list(recorder.leaves), dict(recorder.nodes)
            )
        yield scan


class PopoScan:
    """A copy of the in-memory store's events, leaves and subtrees."""

    def __init__(
        self, events: list[StoredEvent], leaves: list[Leaf], nodes: dict[Subtree, bytes]
    ) -> None:
        self._events = events
        self._leaves = leaves
        self._nodes = nodes
        self.head_position = len(events)

    def events(self) -> Iterator[ScannedEvent]:
        for i, e in enumerate(self._events):
            originator = e.originator_id
            aggregate = originator if isinstance(originator, UUID) else UUID(str(originator))
            yield ScannedEvent(i + 1, aggregate, e.originator_version, e.topic, e.state)

    def leaves(self) -> Iterator[ScannedLeaf]:
        previous: bytes | None = None
        for leaf in self._leaves:
            yield ScannedLeaf(leaf.leaf_index, leaf.position, leaf.hash, previous)
            previous = leaf.hash

    def nodes(self) -> Iterator[Node]:
        ordered = sorted(self._nodes, key=lambda k: ((k[1] + 1) << k[0], k[0]))
        for level, index in ordered:
            yield Node(level, index, self._nodes[(level, index)])


class LedgerPOPOFactory(POPOFactory):
    """The library's in-memory factory: the ledger's recorder, saves by group commit."""

    def application_recorder(self) -> ApplicationRecorder:
        return LedgerPOPORecorder()

    def event_store(
        self, mapper: Mapper[Any] | None = None, recorder: AggregateRecorder | None = None
    ) -> EventStore[Any]:
        return super().event_store(mapper=mapper, recorder=grouped(recorder))
