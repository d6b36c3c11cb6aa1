"""The standalone verifier loaded from its file, and an independent RFC 9162 tree for tests.

`BruteTree` computes MTH, PATH and PROOF by the RFC's recursive definitions (§2.1.3.1,
§2.1.4.1), not with the product's tree: the verifier and the store agree with it only if
all follow the RFC.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import random
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "verify_proof.py"


def load_verifier() -> ModuleType:
    """scripts/verify_proof.py as a module (it is a script, not a package of the product)."""
    if "verify_proof" in sys.modules:
        return sys.modules["verify_proof"]
    spec = importlib.util.spec_from_file_location("verify_proof", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["verify_proof"] = module
    spec.loader.exec_module(module)
    return module


vp = load_verifier()


class BruteTree:
    """RFC 9162's MTH, PATH and PROOF, computed by their recursive definitions."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.mth: Callable[[int, int], bytes] = cache(self._mth)

    @staticmethod
    def split(n: int) -> int:
        """The largest power of two smaller than n."""
        return 1 << ((n - 1).bit_length() - 1)

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.leaves[lo]
        k = self.split(n)
        return hashlib.sha256(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi)).digest()

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi]): m counted from lo."""
        n = hi - lo
        if n == 1:
            return []
        k = self.split(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        """SUBPROOF(m, D[lo:hi], whole)."""
        n = hi - lo
        if m == n:
            return [] if whole else [self.mth(lo, hi)]
        k = self.split(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, whole), self.mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


def flip(data: bytes, rng: random.Random) -> bytes:
    """`data` with one byte changed."""
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]


def sign(
    key: Ed25519PrivateKey, size: int, root: bytes, timestamp: int = 1_700_000_000_000
) -> dict[str, object]:
    """A signed tree head as MERKLE.md defines it, made with cryptography directly."""
    message = b"funding-tracker tree head v1\n" + f"{size}\n{root.hex()}\n{timestamp}\n".encode()
    return {
        "tree_size": size,
        "root_hash": root.hex(),
        "timestamp": timestamp,
        "signature": base64.b64encode(key.sign(message)).decode(),
        "key_id": vp.key_id(key.public_key()),
    }
