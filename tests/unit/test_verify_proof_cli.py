"""scripts/verify_proof.py as an auditor runs it: files in, valid/invalid out, exit 0/1/2."""

from __future__ import annotations

import ast
import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.merkle_brute import SCRIPT, BruteTree, sign, vp

TOPIC = "domain.project:Project.ProjectIdentified"


def _events(count: int) -> list[dict[str, Any]]:
    """Lines of an ndjson export: what a leaf hashes, the stored bytes in base64."""
    lines: list[dict[str, Any]] = []
    for i in range(count):
        state = json.dumps({"name": f"project {i}", "amount": str(i * 1000)}).encode()
        lines.append(
            {
                "position": 2 * i + 1,  # positions with gaps: leaf index ≠ position
                "aggregate_id": str(uuid.UUID(int=i + 1)),
                "version": 1,
                "topic": TOPIC,
                "state": base64.b64encode(state).decode(),
            }
        )
    for line in lines:
        state = base64.b64decode(line["state"])
        leaf = vp.leaf_input(line["position"], uuid.UUID(line["aggregate_id"]), 1, TOPIC, state)
        line["leaf_hash"] = vp.leaf_hash(leaf).hex()
    return lines


class Files:
    """A log of 13 events, two signed heads, the public key and proofs, saved as files."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.key = Ed25519PrivateKey.generate()
        self.events = _events(13)
        self.tree = BruteTree([bytes.fromhex(e["leaf_hash"]) for e in self.events])
        self.pem = self.save_text("key.pem", _pem(self.key))
        self.old_head = self.save("old.json", sign(self.key, 6, self.tree.mth(0, 6)))
        self.head = self.save("head.json", sign(self.key, 13, self.tree.mth(0, 13)))
        self.export = self.save_text(
            "log.ndjson", "".join(json.dumps(e) + "\n" for e in self.events)
        )
        self.proof = self.save("proof.json", self.inclusion(4))
        self.consistency = self.save(
            "consistency.json",
            {"from_size": 6, "to_size": 13,
             "consistency_path": [h.hex() for h in self.tree.subproof(6, 0, 13, True)]},
        )  # fmt: skip

    def inclusion(self, index: int) -> dict[str, Any]:
        return {
            "position": self.events[index]["position"],
            "leaf_index": index,
            "tree_size": 13,
            "leaf_hash": self.events[index]["leaf_hash"],
            "audit_path": [h.hex() for h in self.tree.path(index, 0, 13)],
            "root_hash": self.tree.mth(0, 13).hex(),
        }

    def save(self, name: str, data: Any) -> Path:
        return self.save_text(name, json.dumps(data))

    def save_text(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path


def _pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


def run(*args: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = vp.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_inclusion_proof_with_the_event_from_the_export(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("inclusion", "--head", files.head, "--public-key", files.pem, "--proof", files.proof)
    code, out, _ = run(*common, "--event", files.export, capsys=capsys)
    assert code == 0
    assert out.startswith("valid: the event at position 9 (recomputed from its stored bytes)")

    tampered = [dict(e) for e in files.events]
    state = base64.b64decode(tampered[4]["state"]).replace(b"4000", b"9000")
    tampered[4]["state"] = base64.b64encode(state).decode()
    del tampered[4]["leaf_hash"]  # a forger would drop or recompute it: the proof still binds
    export = files.save_text("tampered.ndjson", "".join(json.dumps(e) + "\n" for e in tampered))
    code, out, _ = run(*common, "--event", export, capsys=capsys)
    assert code == 1
    assert out.startswith("invalid: the event at position 9 (recomputed from its stored bytes)")
    assert out.endswith(" does not hash to the proof's leaf_hash\n")


def test_an_inclusion_proof_with_the_raw_fields(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    event = files.events[4]
    state = files.save_text("state.bin", base64.b64decode(event["state"]).decode())
    raw = ("--position", 9, "--aggregate-id", event["aggregate_id"], "--version", 1,
           "--topic", TOPIC, "--state-file", state)  # fmt: skip
    common = ("inclusion", "--head", files.head, "--public-key", files.pem, "--proof", files.proof)
    assert run(*common, *raw, capsys=capsys)[0] == 0
    wrong_topic = [*raw[:7], "domain.project:Project.Other", *raw[8:]]
    assert run(*common, *wrong_topic, capsys=capsys)[0] == 1
    code, _, err = run(*common, *raw[:4], capsys=capsys)
    assert code == 2
    assert "need all of" in err


def test_every_leaf_of_the_log_checks_and_a_wrong_size_or_key_does_not(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(13):
        proof = files.save(f"p{index}.json", files.inclusion(index))
        args = ("inclusion", "--head", files.head, "--public-key", files.pem, "--proof", proof)
        assert run(*args, "--event", files.export, capsys=capsys)[0] == 0
    other = files.save_text("other.pem", _pem(Ed25519PrivateKey.generate()))
    code, out, _ = run("inclusion", "--head", files.head, "--public-key", other,
                       "--proof", files.proof, capsys=capsys)  # fmt: skip
    assert (code, out.split(" by key")[0]) == (1, "invalid: the tree head is signed")
    code, out, _ = run("inclusion", "--head", files.old_head, "--public-key", files.pem,
                       "--proof", files.proof, capsys=capsys)  # fmt: skip
    assert (code, out) == (1, "invalid: the proof is for tree size 13, the signed head for 6\n")


def test_the_json_answer_of_the_public_key_route_is_accepted(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    retired = Ed25519PrivateKey.generate()
    answer = {"keys": [
        {"key_id": vp.key_id(k.public_key()), "algorithm": "Ed25519",
         "public_key_pem": _pem(k), "current": k is files.key}
        for k in (files.key, retired)
    ]}  # fmt: skip
    keys = files.save("keys.json", answer)
    old = files.save("retired-head.json", sign(retired, 13, files.tree.mth(0, 13)))
    for head in (files.head, old):
        args = ("inclusion", "--head", head, "--public-key", keys, "--proof", files.proof)
        assert run(*args, capsys=capsys)[0] == 0


def test_consistency_between_two_saved_heads(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["consistency", "--old-head", files.old_head, "--new-head", files.head,
            "--public-key", files.pem, "--proof", files.consistency]  # fmt: skip
    code, out, _ = run(*args, capsys=capsys)
    assert (code, out) == (
        0,
        "valid: the signed tree of size 13 extends the signed tree of size 6\n",
    )

    # A rewritten history, honestly signed: the new head no longer extends the old one.
    rewritten = files.tree.leaves[:]
    rewritten[2] = vp.leaf_hash(b"rewritten")
    other = BruteTree(rewritten)
    args[4] = files.save("rewritten.json", sign(files.key, 13, other.mth(0, 13)))
    code, out, _ = run(*args, capsys=capsys)
    assert (code, out) == (
        1,
        "invalid: the path does not lead to the newer head's root (size 13)\n",
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"tree_size": -1}, "`tree_size` must be a non-negative integer"),
        ({"tree_size": "13"}, "`tree_size` must be a non-negative integer"),
        ({"root_hash": "ABC"}, "root_hash must be 64 lowercase hex digits"),
        ({"signature": "%%%"}, "`signature` is not base64"),
        ({"key_id": None}, "`key_id` must be 64 lowercase hex digits"),
    ],
)
def test_an_unusable_head_exits_2(
    files: Files, capsys: pytest.CaptureFixture[str], edit: dict[str, Any], message: str
) -> None:
    head = files.save("bad.json", {**json.loads(files.head.read_text()), **edit})
    code, out, err = run("inclusion", "--head", head, "--public-key", files.pem,
                         "--proof", files.proof, capsys=capsys)  # fmt: skip
    assert (code, out) == (2, "")
    assert message in err


def test_missing_files_and_non_json_exit_2(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    not_json = files.save_text("not.json", "{")
    for head, proof in ((files.tmp / "absent.json", files.proof), (files.head, not_json)):
        code, _, err = run("inclusion", "--head", head, "--public-key", files.pem,
                           "--proof", proof, capsys=capsys)  # fmt: skip
        assert code == 2
        assert err.startswith("unusable input: ")
    code, _, err = run("inclusion", "--head", files.head, "--public-key", files.head,
                       "--proof", files.proof, capsys=capsys)  # fmt: skip
    assert code == 2


def test_it_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import)
            else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        )
    }  # fmt: skip
    assert imported - sys.stdlib_module_names == {"cryptography"}


def test_it_runs_alone_with_a_clean_pythonpath(files: Files) -> None:
    result = subprocess.run(  # noqa: S603 - the verifier script of this repository
        [sys.executable, "-I", str(SCRIPT), "consistency", "--old-head", str(files.old_head),
         "--new-head", str(files.head), "--public-key", str(files.pem),
         "--proof", str(files.consistency)],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=files.tmp, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout.split(":")[0]) == (0, "valid"), result.stderr
