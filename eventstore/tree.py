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

    def root(self, tree_size: int | None = None) -> bytes:
        """The root hash of the tree of `tree_size` leaves (default: the whole log)."""
        size = self.size() if tree_size is None else self._size(tree_size)
        if size == 0:
            return merkle.EMPTY_ROOT
        return self._hashes([(0, size)])[0]

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
        size = self._size(tree_size)
        if not 0 <= leaf_index < size:
            raise TreeError(f"leaf {leaf_index} is not in a tree of {size} leaves")
        return self._hashes(merkle.inclusion_ranges(leaf_index, size))

    def consistency_proof(self, from_size: int, to_size: int) -> list[bytes]:
        """The proof that the tree of `to_size` extends that of `from_size` (§2.1.4.1)."""
        size = self._size(to_size)
        if not 0 <= from_size <= size:
            raise TreeError(f"no consistency proof from {from_size} to {size} leaves")
        return self._hashes(merkle.consistency_ranges(from_size, size))

    # ---------------------------------------------------------------------------------------

    def _size(self, tree_size: int) -> int:
        if tree_size < 0 or tree_size > self.size():
            raise TreeError(f"the log has no tree of {tree_size} leaves")
        return tree_size

    def _hashes(self, ranges: list[Range]) -> list[bytes]:
        subtrees = self.subtrees(merkle.proof_subtrees(ranges))
        return [merkle.range_hash(start, end, subtrees) for start, end in ranges]

    def subtrees(self, keys: Collection[Subtree]) -> dict[Subtree, bytes]:
        """The hashes of perfect subtrees: stored ones read, small ones hashed from leaves."""
        stored = [key for key in keys if key[0] >= STORED_FROM_LEVEL]
        small = [key for key in keys if key[0] < STORED_FROM_LEVEL]
        found = self.store.node_hashes(stored) if stored else {}
        wanted = {i for level, index in small for i in range(index << level, (index + 1) << level)}
        leaves = self.store.leaf_hashes_at(wanted) if wanted else {}
        missing = [key for key in stored if key not in found]
        missing += [("leaf", i) for i in sorted(wanted) if i not in leaves]  # type: ignore[misc]
        if missing:
            raise TreeDamagedError(f"the stored tree lacks {missing[:3]}: run `funding verify`")
        for level, index in small:
            found[(level, index)] = merkle.subtree_from_leaves(level, index, leaves.__getitem__)
        return found


def log_tree(recorder: Any) -> LogTree:
    """The stored tree of a ledger's recorder (memory, SQLite or PostgreSQL)."""
    inner = getattr(recorder, "recorder", recorder)  # group commit wraps the recorder
    store = getattr(inner, "tree_store", None)
    if store is None:
        raise TypeError(f"{type(inner).__name__} keeps no Merkle tree")
    result: TreeStore = store()
    return LogTree(result)
