"""Every proof a store of a few thousand events gives checks with scripts/verify_proof.py.

For random tree sizes, every inclusion proof (the leaf recomputed from the stored event by
the verifier's own hashing) and every consistency proof verifies against a signed head, and
fails once one byte of the proof, of the leaf or of the head changes.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from api import proofs
from api.audit_keys import KeyRing, generate_key, load_keyring
from demo import generate
from domain.application import Ledger
from eventstore.settings import library_env
from tests.conftest import POSTGRES_URL, require_postgres
from tests.merkle_brute import flip, vp

EVENTS = 2500


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])],
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Ledger, KeyRing]]:
    """A store of a few thousand events (built once per kind) and a signing key."""
    tmp = tmp_path_factory.mktemp("every")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'ledger.sqlite3'}"
        yield from _store(url, tmp)
        return
    require_postgres()
    schema = f"test_{uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield from _store(f"{POSTGRES_URL}{separator}schema={schema}", tmp)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _store(url: str, tmp: Path) -> Iterator[tuple[Ledger, KeyRing]]:
    ledger = Ledger(env=library_env(url))
    generate(ledger, EVENTS)
    generate_key(tmp / "signing.pem")
    try:
        yield ledger, load_keyring(tmp / "signing.pem")
    finally:
        ledger.close()


def _head(ring: KeyRing, size: int, root: bytes) -> Any:
    signed = ring.sign(size, root)
    return vp.Head(size, root, signed.timestamp, base64.b64decode(signed.signature), signed.key_id)


def _sizes(total: int) -> list[int]:
    return [total, random.Random(total).randrange(1, total)]


def test_every_inclusion_proof_verifies_and_a_changed_byte_does_not(
    store: tuple[Ledger, KeyRing],
) -> None:
    ledger, ring = store
    keys = {ring.current_id: ring.public[str(ring.current_id)]}
    events = ledger.recorder.select_notifications(start=1, limit=EVENTS * 2)
    rng = random.Random(7)
    for size in _sizes(len(events)):
        head = _head(
            ring,
            size,
            bytes.fromhex(proofs.inclusion(ledger.recorder, events[0].id, size).root_hash),
        )
        vp.check_signature(head, keys, "head")
        for index, event in enumerate(events[:size]):
            proof = proofs.inclusion(ledger.recorder, event.id, size)
            assert proof.leaf_index == index
            leaf = vp.leaf_hash(
                vp.leaf_input(event.id, UUID(str(event.originator_id)), event.originator_version,
                              event.topic, bytes(event.state))
            )  # fmt: skip
            assert proof.leaf_hash == leaf.hex()
            path = [bytes.fromhex(h) for h in proof.audit_path]
            assert vp.root_from_inclusion(index, size, leaf, path) == head.root_hash
            assert not _holds(index, size, flip(leaf, rng), path, head.root_hash)
            if path:
                at = rng.randrange(len(path))
                altered = [*path[:at], flip(path[at], rng), *path[at + 1 :]]
                assert not _holds(index, size, leaf, altered, head.root_hash)
            assert not _holds(index, size, leaf, path, flip(head.root_hash, rng))
        edited = vp.Head(
            size, flip(head.root_hash, rng), head.timestamp, head.signature, head.key_id
        )
        with pytest.raises(vp.InvalidProofError, match="signature"):
            vp.check_signature(edited, keys, "head")


def _holds(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    try:
        return bool(vp.root_from_inclusion(index, size, leaf, path) == root)
    except vp.InvalidProofError:
        return False


def test_every_consistency_proof_verifies_and_a_changed_byte_does_not(
    store: tuple[Ledger, KeyRing],
) -> None:
    ledger, _ = store
    total = len(ledger.recorder.select_notifications(start=1, limit=EVENTS * 2))
    rng = random.Random(11)
    for size in _sizes(total):
        for first in range(size + 1):
            proof = proofs.consistency(ledger.recorder, first, size)
            old, new = bytes.fromhex(proof.from_root), bytes.fromhex(proof.to_root)
            path = [bytes.fromhex(h) for h in proof.consistency_path]
            vp.check_consistency(first, size, old, new, path)
            if first == 0:
                continue  # the empty tree is a prefix of every tree, whatever its root
            assert not _consistent(first, size, flip(old, rng), new, path)
            assert not _consistent(first, size, old, flip(new, rng), path)
            if path:
                at = rng.randrange(len(path))
                altered = [*path[:at], flip(path[at], rng), *path[at + 1 :]]
                assert not _consistent(first, size, old, new, altered)


def _consistent(first: int, size: int, old: bytes, new: bytes, path: list[bytes]) -> bool:
    try:
        vp.check_consistency(first, size, old, new, path)
    except vp.InvalidProofError:
        return False
    return True
