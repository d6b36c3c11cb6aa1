"""Tree heads and proofs of the verifiable log, as the API and the CLI both answer them."""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.persistence import ApplicationRecorder

from api.answers.proofs import (
    ConsistencyProofOut,
    InclusionProofOut,
    PublicKeyOut,
    PublicKeysOut,
    TreeHeadOut,
)
from api.audit_keys import KeyRing, SignedTreeHead, public_pem
from eventstore.tree import LogTree, log_tree


@dataclass(frozen=True)
class ProofRequestError(Exception):
    """A proof that cannot be given: `missing` (no such leaf) or an out-of-range size."""

    detail: str
    field: str
    missing: bool = False

    def __str__(self) -> str:
        return self.detail


def signed_head(recorder: ApplicationRecorder, ring: KeyRing) -> SignedTreeHead:
    """The current tree head, signed (AuditKeyError when no signing key is configured)."""
    ring.require_signer()  # before any read
    size, root = log_tree(recorder).head()
    return ring.sign(size, root)


def head_out(head: SignedTreeHead) -> TreeHeadOut:
    """A signed head as answered."""
    return TreeHeadOut(**head.as_dict())


def public_keys(ring: KeyRing) -> PublicKeysOut:
    """The signing key's public half first, then the retired keys'."""
    current = ring.current_id
    keys = [
        PublicKeyOut(key_id=ident, public_key_pem=public_pem(key), current=ident == current)
        for ident, key in ring.public.items()
    ]
    keys.sort(key=lambda k: not k.current)
    return PublicKeysOut(keys=keys)


def _size(tree: LogTree, requested: int | None, field: str) -> int:
    size = tree.size()
    chosen = size if requested is None else requested
    if chosen > size:
        raise ProofRequestError(
            f"{field} {chosen} is beyond the log's tree, which has {size} leaves", field
        )
    return chosen


def inclusion(
    recorder: ApplicationRecorder, position: int, tree_size: int | None = None
) -> InclusionProofOut:
    """The audit path of the event at `position` in the tree of `tree_size` (now by default)."""
    tree = log_tree(recorder)
    size = _size(tree, tree_size, "tree_size")
    leaf = tree.leaf(position)
    if leaf is None:
        raise ProofRequestError(
            f"no event is stored at position {position} (positions can have gaps)",
            "position",
            missing=True,
        )
    if leaf.leaf_index >= size:
        raise ProofRequestError(
            f"the event at position {position} is leaf {leaf.leaf_index}, after the tree of "
            f"{size} leaves: ask for a tree_size of at least {leaf.leaf_index + 1}",
            "tree_size",
        )
    path = tree.inclusion_proof(leaf.leaf_index, size)
    return InclusionProofOut(
        position=position,
        leaf_index=leaf.leaf_index,
        tree_size=size,
        leaf_hash=leaf.hash.hex(),
        audit_path=[h.hex() for h in path],
        root_hash=tree.root(size).hex(),
    )


def consistency(
    recorder: ApplicationRecorder, from_size: int, to_size: int | None = None
) -> ConsistencyProofOut:
    """The proof that the tree of `to_size` (now by default) extends that of `from_size`."""
    tree = log_tree(recorder)
    to = _size(tree, to_size, "to_size")
    if from_size > to:
        raise ProofRequestError(
            f"from_size {from_size} is larger than to_size {to}: a log only grows", "from_size"
        )
    path = tree.consistency_proof(from_size, to)
    return ConsistencyProofOut(
        from_size=from_size,
        to_size=to,
        consistency_path=[h.hex() for h in path],
        from_root=tree.root(from_size).hex(),
        to_root=tree.root(to).hex(),
    )
