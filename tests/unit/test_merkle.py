"""RFC 9162 hashing and proofs: published test vectors and a brute-force tree."""

from __future__ import annotations

import functools
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import merkle

# The RFC 6962 test vectors of the transparency-dev/merkle and certificate-transparency repos.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
LEAVES = [merkle.hash_leaf(d) for d in LEAF_INPUTS]


def _hex(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_published_vectors(size: int) -> None:
    assert merkle.root_of(LEAVES[:size]).hex() == ROOTS[size]
    stored = {
        (lv, i): merkle.root_of(LEAVES[i << lv : (i + 1) << lv]) for lv, i in merkle.frontier(size)
    }
    assert merkle.fold([stored[k] for k in merkle.frontier(size)]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(
    index: int, size: int, path: list[str]
) -> None:
    assert _hex(merkle.inclusion_proof(index, size, LEAVES)) == path
    root = bytes.fromhex(ROOTS[size])
    proof = [bytes.fromhex(p) for p in path]
    assert merkle.verify_inclusion(index, size, LEAVES[index], proof, root)


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(
    first: int, second: int, path: list[str]
) -> None:
    assert _hex(merkle.consistency_proof(first, second, LEAVES)) == path
    old, new = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    assert merkle.verify_consistency(first, second, old, new, [bytes.fromhex(p) for p in path])


def test_leaf_input_layout() -> None:
    aggregate = UUID("00112233-4455-6677-8899-aabbccddeeff")
    data = merkle.leaf_input(7, aggregate, 3, "é", b"xyz")
    assert data == (
        (7).to_bytes(8, "big")
        + aggregate.bytes
        + (3).to_bytes(8, "big")
        + (2).to_bytes(4, "big")
        + "é".encode()
        + (3).to_bytes(4, "big")
        + b"xyz"
    )
    assert merkle.leaf_hash(7, aggregate, 3, "é", b"xyz") == merkle.hash_leaf(data)


@functools.cache
def _mth(start: int, end: int) -> bytes:
    # RFC 9162 §2.1.1 MTH over ALL[start:end], literally (memoised).
    n = end - start
    if n == 1:
        return ALL[start]
    k = merkle.split_point(n)
    return merkle.node_hash(_mth(start, start + k), _mth(start + k, end))


def _brute_path(index: int, start: int, end: int) -> list[bytes]:
    # RFC 9162 §2.1.3.1 PATH, literally.
    n = end - start
    if n == 1:
        return []
    k = merkle.split_point(n)
    if index < k:
        return [*_brute_path(index, start, start + k), _mth(start + k, end)]
    return [*_brute_path(index - k, start + k, end), _mth(start, start + k)]


def _brute_subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
    # RFC 9162 §2.1.4.1 SUBPROOF, literally.
    n = end - start
    if m == n:
        return [] if whole else [_mth(start, end)]
    k = merkle.split_point(n)
    if m <= k:
        return [*_brute_subproof(m, start, start + k, whole), _mth(start + k, end)]
    return [*_brute_subproof(m - k, start + k, end, False), _mth(start, start + k)]


ALL = [merkle.hash_leaf(i.to_bytes(4, "big")) for i in range(300)]


def test_every_proof_of_every_size_up_to_300_matches_the_rfc_recursion() -> None:
    roots = [merkle.EMPTY_ROOT] + [_mth(0, n) for n in range(1, 301)]
    assert roots[:9] != [bytes.fromhex(r) for r in ROOTS]  # other leaves than the vectors
    for n in range(1, 301):
        stored = {key: _mth(key[1] << key[0], (key[1] + 1) << key[0]) for key in _keys(n)}
        assert merkle.range_hash(0, n, stored) == roots[n] == merkle.root_of(ALL[:n])
        for i in range(n):
            ranges = merkle.inclusion_ranges(i, n)
            path = [merkle.range_hash(a, b, stored) for a, b in ranges]
            assert path == _brute_path(i, 0, n)
            assert merkle.verify_inclusion(i, n, ALL[i], path, roots[n])
            assert len(path) <= max(1, 2 * (n - 1).bit_length())
        for m in range(1, n + 1):
            ranges = merkle.consistency_ranges(m, n)
            proof = [merkle.range_hash(a, b, stored) for a, b in ranges]
            assert proof == _brute_subproof(m, 0, n, True)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof)
            assert len(proof) <= max(1, 2 * (n - 1).bit_length())


def _keys(n: int) -> list[tuple[int, int]]:
    # Every perfect subtree within the first n leaves.
    return [(lv, i) for lv in range(n.bit_length()) for i in range(n >> lv)]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_changed_byte_or_index_breaks_every_proof(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 300))
    leaves = ALL[:n]
    root = merkle.root_of(leaves)
    i = data.draw(st.integers(0, n - 1))
    path = merkle.inclusion_proof(i, n, leaves)
    assert merkle.verify_inclusion(i, n, leaves[i], path, root)
    which = data.draw(st.integers(0, len(path)))
    bit = 1 << data.draw(st.integers(0, 7))
    if which == len(path):
        bad_root = bytes([root[0] ^ bit]) + root[1:]
        assert not merkle.verify_inclusion(i, n, leaves[i], path, bad_root)
    else:
        bad = [*path]
        bad[which] = bytes([bad[which][0] ^ bit]) + bad[which][1:]
        assert not merkle.verify_inclusion(i, n, leaves[i], bad, root)
    other = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
    assert not merkle.verify_inclusion(other, n, leaves[i], path, root)
    assert not merkle.verify_inclusion(i, n, leaves[i], [*path, root], root)

    m = data.draw(st.integers(1, n - 1))
    proof = merkle.consistency_proof(m, n, leaves)
    old = merkle.root_of(leaves[:m])
    assert merkle.verify_consistency(m, n, old, root, proof)
    assert not merkle.verify_consistency(m, n, bytes(32), root, proof)
    assert not merkle.verify_consistency(m, n, old, bytes(32), proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof]
        bad[k] = bytes([bad[k][0] ^ bit]) + bad[k][1:]
        assert not merkle.verify_consistency(m, n, old, root, bad)
        assert not merkle.verify_consistency(m, n, old, root, proof[:-1])


def test_edges() -> None:
    assert merkle.EMPTY_ROOT.hex() == ROOTS[0]
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, bytes(32), [])
    assert merkle.verify_consistency(3, 3, b"a" * 32, b"a" * 32, [])
    assert not merkle.verify_consistency(3, 3, b"a" * 32, b"b" * 32, [])
    assert not merkle.verify_consistency(4, 3, b"a" * 32, b"a" * 32, [])
    assert not merkle.verify_inclusion(3, 3, LEAVES[0], [], LEAVES[0])
    with pytest.raises(ValueError, match="not aligned"):
        merkle.perfect_subtrees(2, 6)
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_ranges(5, 5)
