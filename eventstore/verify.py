"""Checking the whole log against its Merkle tree: `verify_log`.

One pass over a consistent snapshot of the store, in constant memory: every stored event,
in position order, is hashed again and compared with its stored leaf (its index, position
and hash, and the copy of its hash the next leaf keeps); events without a leaf and leaves
without an event are found; every stored subtree is recomputed from the leaves; and each
checkpoint `(tree_size, root)` an auditor kept is recomputed from the leaves and proven
to be extended by today's tree (RFC 9162 consistency). The report names the first bad
position and what differs, in a sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventstore import merkle
from eventstore.leaves import BLOCK, Growth, LogScan, Node, ScannedEvent, ScannedLeaf
from eventstore.tree import log_tree

Progress = Callable[[int, int], None]  # (events checked, head position)
PROGRESS_EVERY = 10_000


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_log` found: `ok`, or the first bad position and what differs."""

    ok: bool
    checked: int  # events hashed again
    tree_size: int
    head_position: int
    head_hash: str  # the root recomputed from the leaves, hex
    first_bad_position: int | None
    problem: str | None


@dataclass(frozen=True)
class _Finding:
    position: int
    problem: str
    precise: bool  # names one event (not a range the tree covers)


class _StopError(Exception):
    """Enough was found."""


def verify_log(
    recorder: Any,
    checkpoints: Sequence[tuple[int, bytes]] = (),
    progress: Progress | None = None,
) -> VerifyReport:
    """Recompute every leaf and subtree from the stored events; check each checkpoint."""
    tree = log_tree(recorder)
    scan_of = getattr(tree.store, "scan", None)
    if scan_of is None:
        raise TypeError(f"{type(tree.store).__name__} cannot be scanned")
    with scan_of() as scan:
        checker = _Checker(scan, sorted(checkpoints), progress)
        checker.run()
    findings = checker.findings
    if not findings:
        for size, root in sorted(checkpoints):  # the stored tree proves the extension too
            proof = tree.consistency_proof(size, checker.size)
            if not merkle.verify_consistency(size, checker.size, root, checker.root, proof):
                findings.append(
                    _Finding(checker.head, f"no consistency proof from checkpoint {size}", False)
                )
    chosen = _first(findings)
    return VerifyReport(
        ok=chosen is None,
        checked=checker.checked,
        tree_size=checker.size,
        head_position=checker.head,
        head_hash=checker.root.hex(),
        first_bad_position=None if chosen is None else chosen.position,
        problem=None if chosen is None else chosen.problem,
    )


def _first(findings: list[_Finding]) -> _Finding | None:
    # A finding that names one event beats one about a range of leaves found with it.
    precise = [f for f in findings if f.precise]
    if precise:
        return min(precise, key=lambda f: f.position)
    return findings[0] if findings else None


class _Checker:
    def __init__(
        self, scan: LogScan, checkpoints: list[tuple[int, bytes]], progress: Progress | None
    ) -> None:
        self.scan = scan
        self.checkpoints = checkpoints
        self.progress = progress
        self.findings: list[_Finding] = []
        self.growth = Growth(0, {}, [])
        self.stored_nodes = iter(scan.nodes())
        self.checked = 0
        self.size = 0
        self.head = 0  # the last position seen
        self.last_hash: bytes | None = None
        self.root = merkle.EMPTY_ROOT
        self._window: int | None = None  # leaves still read after the first finding
        # The position of each leaf that starts a subtree not yet complete, by leaf index.
        self._starts: dict[int, int] = {}

    def found(self, position: int, problem: str, *, precise: bool = True) -> None:
        self.findings.append(_Finding(position, problem, precise))
        if self._window is None:
            self._window = BLOCK  # what is found within a block may be more precise
        if precise:
            raise _StopError

    def run(self) -> None:
        try:
            self._walk()
            self._after_last()
        except _StopError:
            pass
        self.root = self.growth.root()
        self.size = self.growth.size

    def _walk(self) -> None:
        events, leaves = iter(self.scan.events()), iter(self.scan.leaves())
        event, leaf = next(events, None), next(leaves, None)
        pending = self._checkpoint_due(0)
        while event is not None or leaf is not None:
            if event is not None and (leaf is None or event.position < leaf.position):
                self.found(event.position, f"the event at position {event.position} has no leaf")
            if leaf is not None and (event is None or leaf.position < event.position):
                self.found(
                    leaf.position,
                    f"the event at position {leaf.position} is missing: leaf {leaf.leaf_index} "
                    "remains",
                )
            if event is None or leaf is None:  # both found above
                return
            self._check_pair(event, leaf)
            self.head = event.position
            pending = self._checkpoint_due(pending)
            if self._window is not None:
                self._window -= 1
                if self._window <= 0:
                    raise _StopError
            event, leaf = next(events, None), next(leaves, None)

    def _check_pair(self, event: ScannedEvent, leaf: ScannedLeaf) -> None:
        index = self.growth.size
        position = event.position
        if leaf.leaf_index != index:
            self.found(
                position,
                f"the event at position {position} has leaf {leaf.leaf_index}, "
                f"where leaf {index} was expected",
            )
        expected = merkle.leaf_hash(
            position, event.aggregate_id, event.version, event.topic, event.state
        )
        if leaf.previous != self.last_hash and index > 0:
            self.found(
                self.head,
                f"the leaf hash of position {self.head} (leaf {index - 1}) differs from the copy "
                f"leaf {index} keeps: it was rewritten",
            )
        if expected != leaf.hash:
            self.found(
                position,
                f"the event at position {position} ({event.aggregate_id} version "
                f"{event.version}) does not hash to its leaf {index}: its stored bytes, id, "
                "version or topic changed",
            )
        if index % BLOCK == 0:
            self._starts[index] = position
        self.growth.append(leaf.hash)
        self.last_hash = leaf.hash
        self.checked += 1
        for node in self.growth.new_nodes:
            self._check_node(node, position)
        self.growth.new_nodes = []
        if index % (BLOCK << 10) == 0:  # forget the starts of subtrees already complete
            keep = {i << lv for lv, i in merkle.frontier(index + 1)}
            self._starts = {i: p for i, p in self._starts.items() if i in keep}
        if self.progress is not None and self.checked % PROGRESS_EVERY == 0:
            self.progress(self.checked, self.scan.head_position)

    def _check_node(self, node: Node, position: int) -> None:
        stored = next(self.stored_nodes, None)
        first = node.index << node.level
        last = first + (1 << node.level) - 1
        start = self._starts.get(first, position)
        where = f"the stored subtree over leaves {first}..{last} (positions {start}..{position})"
        if stored is None or (stored.level, stored.index) != (node.level, node.index):
            self.found(start, f"{where} is missing", precise=False)
        elif stored.hash != node.hash:
            self.found(
                start,
                f"{where} does not match its leaves: a leaf hash in it was rewritten",
                precise=False,
            )

    def _checkpoint_due(self, pending: int) -> int:
        while pending < len(self.checkpoints) and self.checkpoints[pending][0] <= self.growth.size:
            size, root = self.checkpoints[pending]
            if size == self.growth.size and self.growth.root() != root:
                self.found(
                    self.head,
                    f"the first {size} leaves (to position {self.head}) no longer hash to the "
                    f"checkpoint's root {root.hex()[:16]}…: an event at or before position "
                    f"{self.head} was changed since the checkpoint",
                    precise=False,
                )
            pending += 1
        return pending

    def _after_last(self) -> None:
        size = self.growth.size
        for checkpoint_size, _ in self.checkpoints:
            if checkpoint_size > size:
                self.found(
                    self.head + 1,
                    f"the log has {size} leaves, fewer than the checkpoint's {checkpoint_size}: "
                    f"the events after position {self.head} were removed",
                )
        extra = next(self.stored_nodes, None)
        if extra is not None:
            self.found(
                self.head + 1,
                f"a stored subtree covers leaves {extra.index << extra.level} and beyond, past "
                f"the log's {size} leaves: the log was truncated",
            )
