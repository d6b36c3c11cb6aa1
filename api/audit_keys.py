"""The keys that sign tree heads: Ed25519 in PEM files, never in the database or a log.

A signed tree head is `{tree_size, root_hash, timestamp, signature, key_id}`; the signature
covers exactly `b"funding-tracker tree head v1\\n" + f"{tree_size}\\n{root_hash}\\n{timestamp}\\n"`
and `key_id` is the SHA-256 of the raw 32-byte public key. The private key lives in the file
named by FUNDING_AUDIT_KEY_FILE (written 0600 by `funding audit keygen`); public keys of
retired signing keys (FUNDING_AUDIT_PUBLIC_KEYS) still verify the heads they signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

HEAD_DOMAIN = b"funding-tracker tree head v1\n"
ALGORITHM = "Ed25519"
HEX64 = re.compile(r"[0-9a-f]{64}")


class AuditKeyError(Exception):
    """A signing key that is missing or unusable; the message tells the operator what to do."""


class HeadRefusedError(Exception):
    """A signed tree head that is malformed, signed by an unknown key, or altered."""


def key_id(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, lowercase hex."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo)."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def signed_bytes(tree_size: int, root_hash: str, timestamp: int) -> bytes:
    """The exact bytes a tree head's signature covers."""
    return HEAD_DOMAIN + f"{tree_size}\n{root_hash}\n{timestamp}\n".encode("ascii")


@dataclass(frozen=True)
class SignedTreeHead:
    """A tree head as signed: hashes in lowercase hex, the signature in base64."""

    tree_size: int
    root_hash: str
    timestamp: int
    signature: str
    key_id: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON object saved as a checkpoint and answered by GET /v1/audit/tree-head."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "signature": self.signature,
            "key_id": self.key_id,
        }

    @property
    def root(self) -> bytes:
        """The root hash as bytes."""
        return bytes.fromhex(self.root_hash)

    @classmethod
    def from_dict(cls, data: object) -> SignedTreeHead:
        """Read a saved head; HeadRefusedError naming the field of the wrong shape."""
        if not isinstance(data, dict):
            raise HeadRefusedError("a tree head must be a JSON object")
        for name in ("tree_size", "timestamp"):
            value = data.get(name)
            if type(value) is not int or value < 0:
                raise HeadRefusedError(f"`{name}` must be a non-negative integer")
        for name in ("root_hash", "key_id"):
            if not isinstance(data.get(name), str) or not HEX64.fullmatch(data[name]):
                raise HeadRefusedError(f"`{name}` must be 64 lowercase hex digits")
        signature = data.get("signature")
        try:
            if (
                not isinstance(signature, str)
                or len(base64.b64decode(signature, validate=True)) != 64
            ):
                raise HeadRefusedError("`signature` must be 64 bytes in base64")
        except binascii.Error:
            raise HeadRefusedError("`signature` is not base64") from None
        return cls(
            data["tree_size"], data["root_hash"], data["timestamp"], signature, data["key_id"]
        )


@dataclass(frozen=True)
class KeyRing:
    """The signing key (if one is configured) and every public key heads may be signed by."""

    signer: Ed25519PrivateKey | None
    public: Mapping[str, Ed25519PublicKey]
    key_file: Path

    @property
    def current_id(self) -> str | None:
        """The key id of the signing key."""
        return None if self.signer is None else key_id(self.signer.public_key())

    def require_signer(self) -> Ed25519PrivateKey:
        """The signing key; AuditKeyError telling how to make one when there is none."""
        if self.signer is None:
            raise AuditKeyError(
                f"no tree-head signing key at {self.key_file}: create one with "
                "`funding audit keygen` (or set FUNDING_AUDIT_KEY_FILE)"
            )
        return self.signer

    def sign(self, tree_size: int, root: bytes, timestamp: int | None = None) -> SignedTreeHead:
        """Sign a tree head (timestamp: milliseconds since the epoch, now by default)."""
        signer = self.require_signer()
        at = time.time_ns() // 1_000_000 if timestamp is None else timestamp
        signature = signer.sign(signed_bytes(tree_size, root.hex(), at))
        return SignedTreeHead(
            tree_size=tree_size,
            root_hash=root.hex(),
            timestamp=at,
            signature=base64.b64encode(signature).decode("ascii"),
            key_id=key_id(signer.public_key()),
        )

    def verify(self, head: SignedTreeHead) -> None:
        """HeadRefusedError unless a known key signed `head` exactly as it reads."""
        public = self.public.get(head.key_id)
        if public is None:
            raise HeadRefusedError(
                f"signed by key {head.key_id[:16]}…, which is neither the signing key nor one "
                "of FUNDING_AUDIT_PUBLIC_KEYS"
            )
        try:
            public.verify(
                base64.b64decode(head.signature),
                signed_bytes(head.tree_size, head.root_hash, head.timestamp),
            )
        except InvalidSignature:
            raise HeadRefusedError(
                "its signature does not match its contents: tree_size, root_hash or timestamp "
                "were altered, or the signature is forged"
            ) from None


def generate_key(path: Path) -> Ed25519PrivateKey:
    """Create a signing key in a new file readable by its owner only (FileExistsError if any)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never overwrite a key; the mode is set as the file is created, never wider.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    return key


def retire_key(path: Path) -> Path:
    """Move the signing key aside for a new one; keep its public key beside, return its path.

    The public key file is what FUNDING_AUDIT_PUBLIC_KEYS should list so that the heads the
    old key signed still verify.
    """
    old = load_private_key(path)
    ident = key_id(old.public_key())
    public_file = path.with_name(f"{path.stem}.{ident[:16]}.pub.pem")
    public_file.write_text(public_pem(old.public_key()), encoding="ascii")
    path.rename(path.with_name(f"{path.name}.{ident[:16]}.retired"))
    return public_file


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The signing key from its file; AuditKeyError if missing, open to others or not Ed25519."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise AuditKeyError(
            f"no tree-head signing key at {path}: create one with `funding audit keygen`"
        ) from None
    except OSError as error:
        raise AuditKeyError(f"cannot read the signing key {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditKeyError(
            f"the signing key {path} is readable by others (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise AuditKeyError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"{path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise AuditKeyError(f"cannot read the public key {path}: {error.strerror}") from None
    except ValueError:
        raise AuditKeyError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{path} is not an Ed25519 public key")
    return key


def load_keyring(key_file: Path, retired: Iterable[Path] = ()) -> KeyRing:
    """The signing key (None when its file does not exist yet) and all public keys."""
    signer = load_private_key(key_file) if key_file.exists() else None
    public = {key_id(k): k for k in (load_public_key(p) for p in retired)}
    if signer is not None:
        public[key_id(signer.public_key())] = signer.public_key()
    return KeyRing(signer=signer, public=public, key_file=key_file)


_cached: dict[tuple[object, ...], KeyRing] = {}
_cache_lock = threading.Lock()


def _stamp(path: Path) -> tuple[str, int]:
    try:
        return str(path), path.stat().st_mtime_ns
    except OSError:
        return str(path), -1


def cached_keyring(key_file: Path, retired: Iterable[Path] = ()) -> KeyRing:
    """load_keyring, read again only when one of its files changed (a key made, rotated)."""
    paths = (key_file, *retired)
    stamp = tuple(_stamp(p) for p in paths)
    with _cache_lock:
        ring = _cached.get(stamp)
        if ring is None:
            ring = load_keyring(key_file, paths[1:])
            _cached.clear()
            _cached[stamp] = ring
        return ring
