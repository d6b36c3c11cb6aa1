"""GET /v1/audit/tree-head, /public-key, /proof/inclusion, /proof/consistency and /verify."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient

from api.app import create_app
from api.audit_keys import generate_key, key_id, retire_key, signed_bytes
from api.settings import Settings
from api.tokens import create_token
from demo import generate
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env
from eventstore.tree import log_tree
from projections.db import ReadModelDatabase
from tests.projections.conftest import reporting_schema_for

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "scripts" / "verify_proof.py"


@dataclass
class Audit:
    """An app on a store of each kind, its ledger, a token per role and its key file."""

    client: TestClient
    ledger: Ledger
    headers: dict[str, dict[str, str]]
    key_file: Path
    tmp: Path

    def get(self, path: str, *, role: str = "auditor", **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers[role])


def _audit(url: str, tmp: Path, key: bool = True) -> Iterator[Audit]:
    key_file = tmp / "keys" / "signing.pem"
    if key:
        generate_key(key_file)
    ledger = Ledger(env=library_env(url))
    # On PostgreSQL, read models of the test's own, dropped with its events' schema.
    schema = reporting_schema_for(url) if url.startswith("postgresql") else "reporting"
    read_models = ReadModelDatabase.from_url(url, schema)
    settings = Settings(database_url=url, audit_key_file=key_file, reporting_schema=schema)
    tokens = {
        role.value: create_token(ledger, name=role.value, role=role)[0]
        for role in (Role.ADMIN, Role.AUDITOR, Role.VIEWER)
    }
    tokens["directorate"] = create_token(
        ledger, name="dr", role=Role.DIRECTORATE, directorate="bretagne"
    )[0]
    headers = {role: {"Authorization": f"Bearer {t}"} for role, t in tokens.items()}
    try:
        with TestClient(create_app(settings, ledger, read_models)) as client:
            yield Audit(client, ledger, headers, key_file, tmp)
    finally:
        read_models.close()
        ledger.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def audit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Audit]:
    """An audited app on SQLite and on PostgreSQL."""
    url = (
        f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    yield from _audit(url, tmp_path)


@pytest.fixture
def keyless(tmp_path: Path) -> Iterator[Audit]:
    """An app whose signing key was never made."""
    yield from _audit(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path, key=False)


def public_keys(audit: Audit) -> dict[str, Ed25519PublicKey]:
    answer = audit.get("/v1/audit/public-key").json()
    found = {}
    for k in answer["keys"]:
        key = load_pem_public_key(k["public_key_pem"].encode())
        assert isinstance(key, Ed25519PublicKey)
        found[k["key_id"]] = key
    return found


def run_verifier(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """scripts/verify_proof.py in a clean interpreter: no PYTHONPATH, not from the repo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FUNDING_"))}
    return subprocess.run(  # noqa: S603 - the verifier script of this repository
        [sys.executable, "-I", str(VERIFIER), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        check=False,
    )


def save(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_the_tree_head_is_signed_over_the_stored_tree(audit: Audit) -> None:
    generate(audit.ledger, 300)
    head = audit.get("/v1/audit/tree-head").json()

    tree = log_tree(audit.ledger.recorder)
    assert head["tree_size"] == tree.size() >= 300
    assert head["root_hash"] == tree.root().hex()
    keys = public_keys(audit)
    assert list(keys) == [head["key_id"]]
    keys[head["key_id"]].verify(
        base64.b64decode(head["signature"]),
        signed_bytes(head["tree_size"], head["root_hash"], head["timestamp"]),
    )


def test_a_proof_over_http_checks_offline_and_fails_once_altered(audit: Audit) -> None:
    tmp = audit.tmp
    old_head = save(tmp / "old-head.json", audit.get("/v1/audit/tree-head").json())
    generate(audit.ledger, 200)
    new = audit.get("/v1/audit/tree-head").json()
    new_head = save(tmp / "new-head.json", new)
    pem = audit.client.get(
        "/v1/audit/public-key",
        headers={**audit.headers["auditor"], "Accept": "application/x-pem-file"},
    )
    assert pem.headers["content-type"].startswith("application/x-pem-file")
    key = tmp / "key.pem"
    key.write_text(pem.text)
    positions = [n.id for n in audit.ledger.recorder.select_notifications(start=1, limit=500)]
    position = positions[len(positions) // 2]
    proof = audit.get("/v1/audit/proof/inclusion", position=position, tree_size=new["tree_size"])
    assert proof.status_code == 200, proof.text
    inclusion = save(tmp / "inclusion.json", proof.json())

    ok = run_verifier("inclusion", "--head", new_head, "--public-key", key, "--proof", inclusion)
    assert (ok.returncode, ok.stdout.split(":")[0]) == (0, "valid"), ok.stderr

    altered = proof.json()
    altered["audit_path"][0] = flip_hex(altered["audit_path"][0])
    bad = run_verifier(
        "inclusion", "--head", new_head, "--public-key", key,
        "--proof", save(tmp / "altered.json", altered),
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stdout.startswith("invalid: the audit path does not lead to the signed root")

    edited = save(tmp / "edited-head.json", {**new, "tree_size": new["tree_size"] - 1})
    bad = run_verifier("inclusion", "--head", edited, "--public-key", key, "--proof", inclusion)
    assert bad.returncode == 1
    assert "signature does not match" in bad.stdout

    old_size = json.loads(old_head.read_text())["tree_size"]
    consistency = audit.get("/v1/audit/proof/consistency", from_size=old_size)
    assert consistency.json()["to_size"] == new["tree_size"]
    proof_file = save(tmp / "consistency.json", consistency.json())
    ok = run_verifier(
        "consistency", "--old-head", old_head, "--new-head", new_head,
        "--public-key", key, "--proof", proof_file,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    swapped = run_verifier(
        "consistency", "--old-head", new_head, "--new-head", old_head,
        "--public-key", key, "--proof", proof_file,
    )  # fmt: skip
    assert swapped.returncode == 1


def flip_hex(value: str) -> str:
    """A hex hash with its first byte changed."""
    return f"{int(value[:2], 16) ^ 1:02x}{value[2:]}"


def test_proof_answers_carry_roots_and_positions(audit: Audit) -> None:
    generate(audit.ledger, 40)
    tree = log_tree(audit.ledger.recorder)
    size = tree.size()
    last = audit.ledger.recorder.max_notification_id()
    assert last is not None

    proof = audit.get("/v1/audit/proof/inclusion", position=last).json()
    assert proof["position"] == last
    assert (proof["leaf_index"], proof["tree_size"]) == (size - 1, size)
    assert proof["root_hash"] == tree.root(size).hex()
    assert proof["audit_path"] == [h.hex() for h in tree.inclusion_proof(size - 1, size)]

    proof = audit.get("/v1/audit/proof/consistency", from_size=7, to_size=size - 3).json()
    assert proof["from_root"] == tree.root(7).hex()
    assert proof["to_root"] == tree.root(size - 3).hex()
    assert proof["consistency_path"] == [h.hex() for h in tree.consistency_proof(7, size - 3)]


def test_requests_no_proof_can_answer_are_refused_by_name(audit: Audit) -> None:
    generate(audit.ledger, 20)
    size = log_tree(audit.ledger.recorder).size()
    last = audit.ledger.recorder.max_notification_id()
    assert last is not None
    cases: list[tuple[str, dict[str, Any], int, str, str]] = [
        ("inclusion", {"position": last + 1}, 404, "position", "no event is stored at position"),
        ("inclusion", {"position": 1, "tree_size": size + 1}, 422, "tree_size", "beyond"),
        ("inclusion", {"position": last, "tree_size": size - 1}, 422, "tree_size", "at least"),
        ("inclusion", {"position": 0}, 422, "position", ""),
        ("inclusion", {}, 422, "position", ""),
        ("consistency", {"from_size": 5, "to_size": 4}, 422, "from_size", "larger than"),
        ("consistency", {"from_size": 1, "to_size": size + 1}, 422, "to_size", "beyond"),
        ("consistency", {"from_size": size + 1}, 422, "from_size", "larger than"),
        ("consistency", {"from_size": -1}, 422, "from_size", ""),
    ]
    for kind, params, status, field, detail in cases:
        answer = audit.get(f"/v1/audit/proof/{kind}", **params)
        assert answer.status_code == status, (kind, params, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert detail in body["detail"]
        assert ["query", field] in [e["loc"] for e in body["errors"]], body


def test_equal_and_empty_sizes_have_empty_consistency_proofs(audit: Audit) -> None:
    size = log_tree(audit.ledger.recorder).size()
    same = audit.get("/v1/audit/proof/consistency", from_size=size, to_size=size).json()
    assert same["consistency_path"] == []
    assert same["from_root"] == same["to_root"]
    empty = audit.get("/v1/audit/proof/consistency", from_size=0).json()
    assert empty["from_root"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_only_auditors_and_admins_see_the_proofs(audit: Audit) -> None:
    paths = [
        ("/v1/audit/tree-head", {}),
        ("/v1/audit/public-key", {}),
        ("/v1/audit/proof/inclusion", {"position": 1}),
        ("/v1/audit/proof/consistency", {"from_size": 1}),
        ("/v1/audit/verify", {}),
    ]
    for path, params in paths:
        for role, status in (
            ("admin", 200),
            ("auditor", 200),
            ("viewer", 403),
            ("directorate", 403),
        ):
            assert audit.get(path, role=role, **params).status_code == status, (path, role)
        assert audit.client.get(path, params=params).status_code == 401


def test_verify_answers_the_intact_log(audit: Audit) -> None:
    generate(audit.ledger, 50)
    tree = log_tree(audit.ledger.recorder)
    answer = audit.get("/v1/audit/verify").json()
    assert answer == {
        "ok": True,
        "checked": tree.size(),
        "head_position": audit.ledger.recorder.max_notification_id(),
        "head_hash": tree.root().hex(),
    }


def test_without_a_signing_key_heads_are_refused_and_proofs_still_answer(keyless: Audit) -> None:
    for path in ("/v1/audit/tree-head", "/v1/audit/public-key"):
        answer = keyless.get(path)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert "funding audit keygen" in answer.json()["detail"]
    assert keyless.get("/v1/audit/proof/inclusion", position=1).status_code == 200
    # Made while the server runs: used from the next request on, no restart.
    generate_key(keyless.key_file)
    assert keyless.get("/v1/audit/tree-head").status_code == 200


def test_a_key_readable_by_others_is_not_used(keyless: Audit) -> None:
    generate_key(keyless.key_file)
    keyless.key_file.chmod(0o644)
    answer = keyless.get("/v1/audit/tree-head")
    assert answer.status_code == 500
    assert str(keyless.key_file) not in answer.text


def test_a_retired_key_is_still_served_beside_the_new_one(tmp_path: Path) -> None:
    key_file = tmp_path / "signing.pem"
    old = generate_key(key_file)
    retired = retire_key(key_file)
    new = generate_key(key_file)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger = Ledger(env=library_env(url))
    read_models = ReadModelDatabase.from_url(url)
    settings = Settings(database_url=url, audit_key_file=key_file, audit_public_keys=[retired])
    token = create_token(ledger, name="a", role=Role.AUDITOR)[0]
    with TestClient(create_app(settings, ledger, read_models)) as client:
        answer = client.get("/v1/audit/public-key", headers={"Authorization": f"Bearer {token}"})
    read_models.close()
    ledger.close()
    keys = answer.json()["keys"]
    assert [(k["key_id"], k["current"]) for k in keys] == [
        (key_id(new.public_key()), True),
        (key_id(old.public_key()), False),
    ]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
