"""The log's Merkle tree: RFC 9162 §2.1 hashing, proofs and their verification (pure).

Leaves are numbered 0, 1, 2, … in log-position order; the tree of size n is the RFC's
Merkle Tree Hash (MTH) over the first n leaves. Every hash a tree head or a proof needs is
the MTH of a range of leaves that starts on a boundary of its own size's power of two, so it
is the right fold of the *perfect subtrees* of that range: a perfect subtree `(level, index)`
covers the leaves `[index·2^level, (index+1)·2^level)`. A store keeps the perfect subtrees'
hashes, so a proof is a handful of reads: `inclusion_ranges`/`consistency_ranges` say which
ranges a proof is made of, `perfect_subtrees` which stored hashes make each range, and
`range_hash` folds them back together.

`pymerkle` was considered: its trees hash their leaves one at a time into a backend it
owns and recompute subtree roots from ranges of leaves (cached in memory), so neither the
transaction of the events nor O(log n) reads of a stored tree fit it; the RFC's algorithms
are short and are checked here against the published test vectors and a brute-force tree.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Mapping, Sequence
from uuid import UUID

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
HASH_SIZE = 32

Subtree = tuple[int, int]  # (level, index): the leaves [index·2^level, (index+1)·2^level)
Range = tuple[int, int]  # [start, end) of leaf indices

_HEAD = struct.Struct(">Q16sQI")


def leaf_input(position: int, aggregate_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The bytes a stored event's leaf hashes (docs: position, id, version, topic, state)."""
    encoded = topic.encode("utf-8")
    return b"".join(
        (
            _HEAD.pack(position, aggregate_id.bytes, version, len(encoded)),
            encoded,
            len(state).to_bytes(4, "big"),
            state,
        )
    )


def leaf_hash(position: int, aggregate_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The leaf hash of a stored event: SHA-256(0x00 || leaf_input)."""
    return hash_leaf(leaf_input(position, aggregate_id, version, topic, state))


def hash_leaf(data: bytes) -> bytes:
    """SHA-256(0x00 || data), the RFC's leaf hash of any leaf input."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), the RFC's interior node hash."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n ≥ 2), where the RFC splits."""
    if n < 2:
        raise ValueError("a split needs at least two leaves")
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The MTH of the given leaf hashes, by the RFC's recursion (tests and small trees)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


# Which perfect subtrees make a range --------------------------------------------------------


def perfect_subtrees(start: int, end: int) -> list[Subtree]:
    """The perfect subtrees whose right fold is MTH(leaves[start:end]), left to right.

    `start` must be a multiple of the power of two at or above `end - start` (true of the
    whole tree and of every range a proof uses).
    """
    size = end - start
    if size <= 0:
        raise ValueError(f"empty range [{start}, {end})")
    if start & ((1 << (size - 1).bit_length()) - 1):
        raise ValueError(f"range [{start}, {end}) is not aligned")
    out: list[Subtree] = []
    offset = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, offset >> level))
            offset += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """The right fold of perfect subtrees' hashes (largest first): their range's MTH."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(start: int, end: int, subtrees: Mapping[Subtree, bytes]) -> bytes:
    """MTH(leaves[start:end]) from the hashes of its perfect subtrees."""
    return fold([subtrees[key] for key in perfect_subtrees(start, end)])


def frontier(size: int) -> list[Subtree]:
    """The perfect subtrees of a tree of `size` leaves (its root's ingredients)."""
    return perfect_subtrees(0, size) if size else []


def subtree_from_leaves(level: int, index: int, leaves: Callable[[int], bytes]) -> bytes:
    """The hash of one perfect subtree computed from its leaves (small levels only)."""
    first = index << level
    layer = [leaves(first + i) for i in range(1 << level)]
    while len(layer) > 1:
        layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


# Proofs as ranges (RFC 9162 §2.1.3.1 PATH and §2.1.4.1 SUBPROOF) ----------------------------


def inclusion_ranges(leaf_index: int, tree_size: int) -> list[Range]:
    """The ranges whose MTHs make the audit path of a leaf in a tree, in proof order."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
    out: list[Range] = []
    start, end = 0, tree_size
    while end - start > 1:
        k = split_point(end - start)
        if leaf_index - start < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def consistency_ranges(from_size: int, to_size: int) -> list[Range]:
    """The ranges whose MTHs make PROOF(from_size, D[to_size]), in proof order."""
    if not 0 <= from_size <= to_size:
        raise ValueError(f"no consistency proof from {from_size} to {to_size}")
    if from_size in (0, to_size):
        return []
    out: list[Range] = []
    m, start, end, whole = from_size, 0, to_size, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                out.append((start, end))
            break
        k = split_point(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            m -= k
            start += k
            whole = False
    out.reverse()
    return out


def proof_subtrees(ranges: Sequence[Range]) -> set[Subtree]:
    """Every perfect subtree the given ranges need."""
    return {key for start, end in ranges for key in perfect_subtrees(start, end)}


def inclusion_proof(leaf_index: int, tree_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of a leaf over an in-memory list of leaf hashes (tests, small trees)."""
    return [root_of(leaves[a:b]) for a, b in inclusion_ranges(leaf_index, tree_size)]


def consistency_proof(from_size: int, to_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The consistency proof over an in-memory list of leaf hashes (tests, small trees)."""
    return [root_of(leaves[a:b]) for a, b in consistency_ranges(from_size, to_size)]


# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------------------------


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, audit_path: Sequence[bytes], root: bytes
) -> bool:
    """True when the audit path proves the leaf at `leaf_index` in the tree with `root`."""
    if not 0 <= leaf_index < tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash
    for p in audit_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    from_size: int, to_size: int, from_root: bytes, to_root: bytes, path: Sequence[bytes]
) -> bool:
    """True when `path` proves the tree of `to_size` with `to_root` extends the older one."""
    if from_size < 0 or from_size > to_size:
        return False
    if from_size == to_size:
        return not path and from_root == to_root
    if from_size == 0:
        return not path and from_root == EMPTY_ROOT
    proof = list(path)
    if from_size & (from_size - 1) == 0:  # an exact power of two: its root starts the path
        proof.insert(0, from_root)
    if not proof:
        return False
    fn, sn = from_size - 1, to_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == from_root and sr == to_root
