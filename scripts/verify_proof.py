#!/usr/bin/env python3
"""Check a funding-tracker proof offline, trusting nothing but a public key.

Standard library and `cryptography` only: this script imports nothing of the product, so an
auditor can read all of it and run it anywhere.

    verify_proof.py inclusion --head HEAD.json --public-key KEY.pem --proof PROOF.json \
        [--event EVENTS.ndjson | --position N --aggregate-id UUID --version V --topic T \
         --state-file STATE.bin]
    verify_proof.py consistency --old-head OLD.json --new-head NEW.json \
        --public-key KEY.pem --proof PROOF.json

HEAD.json is a signed tree head (`GET /v1/audit/tree-head`, `funding audit checkpoint`);
KEY.pem the Ed25519 public key(s), as PEM or as the JSON answer of `GET /v1/audit/public-key`;
PROOF.json the answer of `GET /v1/audit/proof/inclusion` or `.../consistency`. With an event
(a line of the ndjson export, or its raw fields) the leaf hash is recomputed from the stored
bytes rather than taken from the proof.

Prints `valid: ...` and exits 0, or `invalid: <reason>` and exits 1; exits 2 when an input
cannot be used at all (missing file, not JSON, a field of the wrong shape).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEAD_DOMAIN = b"funding-tracker tree head v1\n"
HEX64 = re.compile(r"[0-9a-f]{64}")
EMPTY_ROOT = hashlib.sha256(b"").digest()


class UnusableInputError(Exception):
    """An input that cannot be read as what it should be (exit 2)."""


class InvalidProofError(Exception):
    """A proof, head or signature that does not hold (exit 1)."""


# RFC 9162 §2.1.1: leaf and node hashes, with distinct prefixes.
def leaf_hash(leaf_input: bytes) -> bytes:
    """SHA-256(0x00 || leaf_input)."""
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_input(
    position: int, aggregate_id: uuid.UUID, version: int, topic: str, state: bytes
) -> bytes:
    """The bytes a stored event's leaf hashes: position, aggregate, version, topic, state."""
    encoded = topic.encode("utf-8")
    return b"".join(
        (
            position.to_bytes(8, "big"),
            aggregate_id.bytes,
            version.to_bytes(8, "big"),
            len(encoded).to_bytes(4, "big"),
            encoded,
            len(state).to_bytes(4, "big"),
            state,
        )
    )


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root an inclusion path leads to (InvalidProofError if it cannot)."""
    if index >= size:
        raise InvalidProofError(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise InvalidProofError("the audit path is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProofError("the audit path is shorter than the tree needs")
    return r


def check_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: InvalidProofError unless the tree of `second` leaves extends `first`'s."""
    if first > second:
        raise InvalidProofError(
            f"the older head's size {first} is larger than the newer's {second}"
        )
    if first == 0 or first == second:
        if path:
            raise InvalidProofError(f"a proof from size {first} to {second} must be empty")
        if first == second and first_root != second_root:
            raise InvalidProofError(f"two heads of the same size {first} have different roots")
        if first == 0 and first_root != EMPTY_ROOT:
            raise InvalidProofError("the older head has size 0 but not the empty tree's root")
        return
    if not path:
        raise InvalidProofError("the consistency path is empty")
    nodes = list(path)
    if first & (first - 1) == 0:  # an exact power of 2: the older root is the first node
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise InvalidProofError("the consistency path is longer than the trees allow")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProofError("the consistency path is shorter than the trees need")
    if fr != first_root:
        raise InvalidProofError(f"the path does not lead to the older head's root (size {first})")
    if sr != second_root:
        raise InvalidProofError(f"the path does not lead to the newer head's root (size {second})")


@dataclass(frozen=True)
class Head:
    """A signed tree head as saved."""

    tree_size: int
    root_hash: bytes
    timestamp: int
    signature: bytes
    key_id: str

    def signed_bytes(self) -> bytes:
        """The exact bytes its signature covers."""
        text = f"{self.tree_size}\n{self.root_hash.hex()}\n{self.timestamp}\n"
        return HEAD_DOMAIN + text.encode("ascii")


def _load_json(path: Path, what: str) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as error:
        raise UnusableInputError(f"cannot read {what} {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnusableInputError(f"{what} {path} is not JSON: {error}") from None


def _integer(data: dict[str, Any], name: str, what: str) -> int:
    value = data.get(name)
    if type(value) is not int or value < 0:
        raise UnusableInputError(f"{what}: `{name}` must be a non-negative integer, not {value!r}")
    return value


def _hash(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not HEX64.fullmatch(value):
        raise UnusableInputError(f"{what} must be 64 lowercase hex digits, not {value!r}")
    return bytes.fromhex(value)


def _hashes(data: dict[str, Any], name: str, what: str) -> list[bytes]:
    value = data.get(name)
    if not isinstance(value, list):
        raise UnusableInputError(f"{what}: `{name}` must be a list of hex hashes")
    return [_hash(item, f"{what}: {name}[{i}]") for i, item in enumerate(value)]


def read_head(path: Path) -> Head:
    """A signed tree head from its JSON file (UnusableInputError if a field has the wrong shape)."""
    what = f"tree head {path}"
    data = _load_json(path, "tree head")
    if not isinstance(data, dict):
        raise UnusableInputError(f"{what} is not a JSON object")
    try:
        signature = base64.b64decode(str(data.get("signature")), validate=True)
    except binascii.Error:
        raise UnusableInputError(f"{what}: `signature` is not base64") from None
    key_id = data.get("key_id")
    if not isinstance(key_id, str) or not HEX64.fullmatch(key_id):
        raise UnusableInputError(f"{what}: `key_id` must be 64 lowercase hex digits")
    return Head(
        tree_size=_integer(data, "tree_size", what),
        root_hash=_hash(data.get("root_hash"), f"{what}: root_hash"),
        timestamp=_integer(data, "timestamp", what),
        signature=signature,
        key_id=key_id,
    )


def key_id(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, in hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def read_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 public keys of a PEM file (one or more blocks) or of the JSON answer."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UnusableInputError(f"cannot read the public key file {path}: {error}") from None
    if text.lstrip().startswith("{"):
        answer = _load_json(path, "public key answer")
        keys = answer.get("keys") if isinstance(answer, dict) else None
        if not isinstance(keys, list):
            raise UnusableInputError(f"{path}: a JSON public key answer must hold a `keys` list")
        blocks = [str(k.get("public_key_pem", "")) for k in keys if isinstance(k, dict)]
    else:
        blocks = re.findall(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", text, re.S)
    found: dict[str, Ed25519PublicKey] = {}
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as error:
            raise UnusableInputError(f"{path}: not a PEM public key: {error}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise UnusableInputError(f"{path}: a public key that is not Ed25519")
        found[key_id(key)] = key
    if not found:
        raise UnusableInputError(f"{path} holds no public key")
    return found


def check_signature(head: Head, keys: dict[str, Ed25519PublicKey], name: str) -> None:
    """Raise InvalidProofError unless one of `keys` signed `head` exactly as it reads."""
    key = keys.get(head.key_id)
    if key is None:
        raise InvalidProofError(
            f"{name} is signed by key {head.key_id[:16]}…, not by the given key(s)"
        )
    try:
        key.verify(head.signature, head.signed_bytes())
    except InvalidSignature:
        raise InvalidProofError(
            f"{name}'s signature does not match its contents (tree_size, root_hash or "
            "timestamp altered, or a forged signature)"
        ) from None


def _event_leaf(args: argparse.Namespace, position: int | None) -> tuple[bytes, str] | None:
    """The leaf hash recomputed from the event given on the command line (None if none)."""
    if args.event is not None:
        return _leaf_from_export(args.event, position)
    raw = (args.position, args.aggregate_id, args.version, args.topic, args.state_file)
    if all(v is None for v in raw):
        return None
    if any(v is None for v in raw):
        raise UnusableInputError(
            "the raw fields need all of --position, --aggregate-id, --version, "
            "--topic and --state-file"
        )
    try:
        state = Path(args.state_file).read_bytes()
        aggregate = uuid.UUID(args.aggregate_id)
    except (OSError, ValueError) as error:
        raise UnusableInputError(f"unusable event field: {error}") from None
    leaf = leaf_hash(leaf_input(args.position, aggregate, args.version, args.topic, state))
    return leaf, f"event at position {args.position} (raw fields)"


def _find_event(path: Path, position: int | None) -> dict[str, Any]:
    """The event line at `position` (or the file's only event), read one line at a time."""
    found: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise UnusableInputError(f"{path} line {number} is not JSON: {error}") from None
                if not isinstance(record, dict) or "version" not in record:
                    continue  # not an event: the export's closing tree head
                if position is not None and record.get("position") == position:
                    return record
                if len(found) < 2:
                    found.append(record)
    except (OSError, UnicodeDecodeError) as error:
        raise UnusableInputError(f"cannot read the event file {path}: {error}") from None
    if len(found) == 1 and position is None:
        return found[0]
    raise UnusableInputError(f"{path} holds no event at position {position}")


def _leaf_from_export(path: Path, position: int | None) -> tuple[bytes, str]:
    event = _find_event(path, position)
    what = f"{path}: event"
    state_text = event.get("state")
    if not isinstance(state_text, str):
        raise UnusableInputError(f"{what} carries no stored bytes (`state`, base64) to hash")
    try:
        state = base64.b64decode(state_text, validate=True)
        aggregate = uuid.UUID(str(event.get("aggregate_id")))
    except (binascii.Error, ValueError) as error:
        raise UnusableInputError(f"{what}: {error}") from None
    topic = event.get("topic")
    if not isinstance(topic, str):
        raise UnusableInputError(f"{what} carries no `topic`")
    at = _integer(event, "position", what)
    leaf = leaf_hash(leaf_input(at, aggregate, _integer(event, "version", what), topic, state))
    claimed = event.get("leaf_hash")
    if claimed is not None and _hash(claimed, f"{what}: leaf_hash") != leaf:
        raise InvalidProofError(
            f"the event at position {at} does not hash to the leaf_hash its line shows"
        )
    return leaf, f"event at position {at} (recomputed from its stored bytes)"


def inclusion(args: argparse.Namespace) -> str:
    """Check an inclusion proof against a signed head; return what was proven."""
    keys = read_public_keys(args.public_key)
    head = read_head(args.head)
    data = _load_json(args.proof, "proof")
    if not isinstance(data, dict):
        raise UnusableInputError("the proof is not a JSON object")
    index = _integer(data, "leaf_index", "proof")
    size = _integer(data, "tree_size", "proof")
    path = _hashes(data, "audit_path", "proof")
    position = data.get("position") if type(data.get("position")) is int else None
    check_signature(head, keys, "the tree head")
    if size != head.tree_size:
        raise InvalidProofError(
            f"the proof is for tree size {size}, the signed head for {head.tree_size}"
        )
    given = _event_leaf(args, position)
    if given is not None:
        leaf, source = given
        if "leaf_hash" in data and _hash(data["leaf_hash"], "proof: leaf_hash") != leaf:
            raise InvalidProofError(f"the {source} does not hash to the proof's leaf_hash")
    else:
        leaf, source = _hash(data.get("leaf_hash"), "proof: leaf_hash"), "leaf hash of the proof"
    if root_from_inclusion(index, size, leaf, path) != head.root_hash:
        raise InvalidProofError("the audit path does not lead to the signed root")
    return f"the {source} is leaf {index} of the signed tree of size {size}"


def consistency(args: argparse.Namespace) -> str:
    """Check that the newer signed head's tree extends the older one's."""
    keys = read_public_keys(args.public_key)
    old, new = read_head(args.old_head), read_head(args.new_head)
    data = _load_json(args.proof, "proof")
    if not isinstance(data, dict):
        raise UnusableInputError("the proof is not a JSON object")
    first = _integer(data, "from_size", "proof")
    second = _integer(data, "to_size", "proof")
    path = _hashes(data, "consistency_path", "proof")
    check_signature(old, keys, "the older head")
    check_signature(new, keys, "the newer head")
    if (first, second) != (old.tree_size, new.tree_size):
        raise InvalidProofError(
            f"the proof is from size {first} to {second}, the signed heads are of sizes "
            f"{old.tree_size} and {new.tree_size}"
        )
    check_consistency(first, second, old.root_hash, new.root_hash, path)
    return f"the signed tree of size {second} extends the signed tree of size {first}"


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    inc = commands.add_parser("inclusion", help="an event is in the log a signed head covers")
    inc.add_argument("--head", type=Path, required=True, help="signed tree head JSON")
    inc.add_argument("--public-key", type=Path, required=True, help="PEM or JSON answer")
    inc.add_argument("--proof", type=Path, required=True, help="inclusion proof JSON")
    inc.add_argument("--event", type=Path, help="ndjson export (or one line of it)")
    inc.add_argument("--position", type=int)
    inc.add_argument("--aggregate-id")
    inc.add_argument("--version", type=int)
    inc.add_argument("--topic")
    inc.add_argument("--state-file", help="the stored bytes of the event")
    inc.set_defaults(check=inclusion)
    con = commands.add_parser("consistency", help="a newer signed head extends an older one")
    con.add_argument("--old-head", type=Path, required=True)
    con.add_argument("--new-head", type=Path, required=True)
    con.add_argument("--public-key", type=Path, required=True, help="PEM or JSON answer")
    con.add_argument("--proof", type=Path, required=True, help="consistency proof JSON")
    con.set_defaults(check=consistency)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one check; 0 valid, 1 invalid, 2 unusable input."""
    args = parser().parse_args(argv)
    try:
        proven = args.check(args)
    except UnusableInputError as error:
        print(f"unusable input: {error}", file=sys.stderr)
        return 2
    except InvalidProofError as error:
        print(f"invalid: {error}")
        return 1
    print(f"valid: {proven}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
