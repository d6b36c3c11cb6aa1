"""The log's Merkle tree as stored: tree heads and proofs in a few reads, on every store.

`log_tree(recorder)` answers for any of the ledger's recorders (memory, SQLite,
PostgreSQL). A tree head or a proof reads the stored perfect subtrees it is made of (one
read) and the few leaves under the smallest ones (one more), never a pass over the log:
see `eventstore.leaves` for what is stored and `eventstore.merkle` for the algorithms.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from eventstore import merkle
from eventstore.leaves import STORED_FROM_LEVEL, Leaf, TreeStore
from eventstore.merkle import Range, Subtree

__all__ = ["Leaf", "LogTree", "TreeError", "log_tree"]


class TreeError(ValueError):
    """A tree size, leaf index or position the stored tree does not have."""


class TreeDamagedError(RuntimeError):
    """The stored tree lacks a hash it should have (`funding verify` says where)."""


class LogTree:
    """The stored Merkle tree of one store's log."""

    def __init__(self, store: TreeStore) -> None:
        self.store = store

    def size(self) -> int:
        """The number of leaves (events) in the tree."""
        return self.store.tree_size()

    def head(self) -> tuple[int, bytes]:
        """The tree's size and root hash, read together (one read on PostgreSQL)."""
        size, nodes, tail = self.store.frontier()
        keys = merkle.frontier(size)
        found = self._complete([k for k in keys if k[0] >= STORED_FROM_LEVEL], nodes, tail, keys)
        return size, merkle.fold([found[key] for key in keys])

    def root(self, tree_size: int | None = None) -> bytes:
        """The root hash of the tree of `tree_size` leaves (default: the whole log)."""
        if tree_size is None:
            return self.head()[1]
        if tree_size < 0:
            raise TreeError(f"the log has no tree of {tree_size} leaves")
        if tree_size == 0:
            return merkle.EMPTY_ROOT
        return self._hashes([(0, tree_size)], tree_size)[0]

    def leaf(self, position: int) -> Leaf | None:
        """The leaf of the event at a log position, if there is one."""
        found = self.store.leaves_at_positions([position])
        return found[0] if found else None

    def leaf_hashes(self, positions: Iterable[int]) -> dict[int, bytes]:
        """{position: leaf hash} of the events at these positions (those that exist)."""
        return {leaf.position: leaf.hash for leaf in self.store.leaves_at_positions(set(positions))}

    def size_at(self, position: int) -> int:
        """The number of leaves at positions up to and including `position`."""
        return self.store.size_at(position)

    def inclusion_proof(self, leaf_index: int, tree_size: int) -> list[bytes]:
        """The audit path of a leaf in the tree of `tree_size` leaves (RFC 9162 §2.1.3.1)."""
        if not 0 <= leaf_index < tree_size:
            raise TreeError(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
        return self._hashes(merkle.inclusion_ranges(leaf_index, tree_size), tree_size)

    def consistency_proof(self, from_size: int, to_size: int) -> list[bytes]:
        """The proof that the tree of `to_size` extends that of `from_size` (§2.1.4.1)."""
        if not 0 <= from_size <= to_size:
            raise TreeError(f"no consistency proof from {from_size} to {to_size} leaves")
        return self._hashes(merkle.consistency_ranges(from_size, to_size), to_size)

    # ---------------------------------------------------------------------------------------

    def _hashes(self, ranges: list[Range], tree_size: int) -> list[bytes]:
        keys = merkle.proof_subtrees(ranges)
        stored = [key for key in keys if key[0] >= STORED_FROM_LEVEL]
        indices = {
            i
            for level, index in keys
            if level < STORED_FROM_LEVEL
            for i in range(index << level, (index + 1) << level)
        }
        size, nodes, leaves = self.store.hashes(stored, indices)
        if tree_size > size:
            raise TreeError(f"the log has no tree of {tree_size} leaves (it has {size})")
        found = self._complete(stored, nodes, leaves, keys)
        return [merkle.range_hash(start, end, found) for start, end in ranges]

    @staticmethod
    def _complete(
        stored: Collection[Subtree],
        nodes: dict[Subtree, bytes],
        leaves: dict[int, bytes],
        keys: Collection[Subtree],
    ) -> dict[Subtree, bytes]:
        """The hashes of `keys`: stored ones as read, smaller ones hashed from their leaves."""
        missing: list[object] = [key for key in stored if key not in nodes]
        found = dict(nodes)
        for level, index in keys:
            if level >= STORED_FROM_LEVEL:
                continue
            span = range(index << level, (index + 1) << level)
            if any(i not in leaves for i in span):
                missing.append(f"leaves {span.start}..{span.stop - 1}")
                continue
            found[(level, index)] = merkle.subtree_from_leaves(level, index, leaves.__getitem__)
        if missing:
            raise TreeDamagedError(f"the stored tree lacks {missing[:3]}: run `funding verify`")
        return found


def log_tree(recorder: Any) -> LogTree:
    """The stored tree of a ledger's recorder (memory, SQLite or PostgreSQL)."""
    inner = getattr(recorder, "recorder", recorder)  # group commit wraps the recorder
    store = getattr(inner, "tree_store", None)
    if store is None:
        raise TypeError(f"{type(inner).__name__} keeps no Merkle tree")
    result: TreeStore = store()
    return LogTree(result)
