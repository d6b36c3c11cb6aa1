"""scripts/verify_proof.py, the auditor's standalone verifier, against an independent tree.

The proofs checked here come from a brute-force tree written from RFC 9162's recursive
definitions (§2.1.3.1 PATH, §2.1.4.1 PROOF/SUBPROOF), not from the product's tree: the
verifier and the tree agree only if both follow the RFC.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.merkle_brute import BruteTree, flip, sign, vp

# RFC 6962 reference leaves and roots (the Certificate Transparency test vectors).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
             "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}  # fmt: skip
CT_CONSISTENCY_2_8 = [
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]


def synthetic_leaves(count: int, rng: random.Random) -> list[bytes]:
    """Leaf hashes of events at increasing positions with gaps, as a store holds them."""
    position, leaves = 0, []
    for _ in range(count):
        position += rng.choice((1, 1, 1, 2, 5))
        state = rng.randbytes(rng.randrange(0, 60))
        aggregate = uuid.UUID(bytes=rng.randbytes(16))
        topic = "domain.project:ProjectCreated"
        leaves.append(vp.leaf_hash(vp.leaf_input(position, aggregate, 1, topic, state)))
    return leaves


def test_reference_vectors() -> None:
    leaves = [vp.leaf_hash(bytes.fromhex(x)) for x in CT_LEAVES]
    tree = BruteTree(leaves)
    assert [tree.mth(0, n).hex() for n in range(1, 9)] == CT_ROOTS
    root = bytes.fromhex(CT_ROOTS[-1])
    for (index, size), path in CT_INCLUSION.items():
        assert [p.hex() for p in tree.path(index, 0, size)] == path
        assert (
            vp.root_from_inclusion(index, size, leaves[index], [bytes.fromhex(p) for p in path])
            == root
        )
    assert [p.hex() for p in tree.subproof(2, 0, 8, True)] == CT_CONSISTENCY_2_8
    old = bytes.fromhex(CT_ROOTS[1])
    vp.check_consistency(2, 8, old, root, [bytes.fromhex(p) for p in CT_CONSISTENCY_2_8])


SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, *random.Random(20261204).sample(range(18, 3000), 4)]


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof_verifies_and_no_changed_byte_does(size: int) -> None:
    rng = random.Random(size)
    tree = BruteTree(synthetic_leaves(size, rng))
    root = tree.mth(0, size)
    for index in range(size):
        leaf, path = tree.leaves[index], tree.path(index, 0, size)
        assert vp.root_from_inclusion(index, size, leaf, path) == root
        assert _inclusion_fails(index, size, flip(leaf, rng), path, root)
        assert _inclusion_fails(index, size, leaf, path, flip(root, rng))
        if path:
            at = rng.randrange(len(path))
            changed = [*path[:at], flip(path[at], rng), *path[at + 1 :]]
            assert _inclusion_fails(index, size, leaf, changed, root)
            assert _inclusion_fails(index, size, leaf, path[:-1], root)
        assert _inclusion_fails(index, size, leaf, [*path, root], root)
        if size > 1:
            assert _inclusion_fails(
                index ^ 1 if index ^ 1 < size else index - 1, size, leaf, path, root
            )


def _inclusion_fails(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    try:
        return bool(vp.root_from_inclusion(index, size, leaf, path) != root)
    except vp.InvalidProofError:
        return True


@pytest.mark.parametrize("size", SIZES)
def test_every_consistency_proof_verifies_and_no_changed_byte_does(size: int) -> None:
    rng = random.Random(-size)
    tree = BruteTree(synthetic_leaves(size, rng))
    new = tree.mth(0, size)
    for first in range(size + 1):
        old = tree.mth(0, first)
        path = tree.subproof(first, 0, size, True) if 0 < first < size else []
        vp.check_consistency(first, size, old, new, path)
        if first:  # the empty tree is a prefix of every tree, whatever its root
            assert _consistency_fails(first, size, old, flip(new, rng), path)
            assert _consistency_fails(first, size, flip(old, rng), new, path)
        if path:
            at = rng.randrange(len(path))
            changed = [*path[:at], flip(path[at], rng), *path[at + 1 :]]
            assert _consistency_fails(first, size, old, new, changed)
            assert _consistency_fails(first, size, old, new, path[1:])
            assert _consistency_fails(first, size, old, new, [*path, new])


def _consistency_fails(first: int, second: int, old: bytes, new: bytes, path: list[bytes]) -> bool:
    try:
        vp.check_consistency(first, second, old, new, path)
    except vp.InvalidProofError:
        return True
    return False


def test_a_larger_older_head_is_refused() -> None:
    tree = BruteTree(synthetic_leaves(9, random.Random(3)))
    with pytest.raises(vp.InvalidProofError, match="larger"):
        vp.check_consistency(9, 4, tree.mth(0, 9), tree.mth(0, 4), [])


def test_head_signatures() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys = {vp.key_id(key.public_key()): key.public_key()}
    root = hashlib.sha256(b"x").digest()
    good = sign(key, 5, root)
    vp.check_signature(_head(good), keys, "head")
    for edit in ({"tree_size": 6}, {"root_hash": flip(root, random.Random(1)).hex()},
                 {"timestamp": 1_700_000_000_001}):  # fmt: skip
        with pytest.raises(vp.InvalidProofError, match="signature does not match"):
            vp.check_signature(_head({**good, **edit}), keys, "head")
    with pytest.raises(vp.InvalidProofError, match="not by the given key"):
        vp.check_signature(_head(sign(other, 5, root)), keys, "head")
    # Another key claiming the right key_id is refused by the signature itself.
    forged = {**sign(other, 5, root), "key_id": good["key_id"]}
    with pytest.raises(vp.InvalidProofError, match="signature does not match"):
        vp.check_signature(_head(forged), keys, "head")


def _head(data: dict[str, object]) -> object:
    signature = base64.b64decode(str(data["signature"]))
    return vp.Head(data["tree_size"], bytes.fromhex(str(data["root_hash"])), data["timestamp"],
                   signature, data["key_id"])  # fmt: skip
