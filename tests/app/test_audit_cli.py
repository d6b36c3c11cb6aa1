"""`funding audit keygen|checkpoint|inclusion|consistency|public-key` and `funding verify`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from api.cli import app
from api.tokens import create_token
from demo import generate
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env
from tests.corruption import damage_event

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "scripts" / "verify_proof.py"
runner = CliRunner()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ledger]:
    """A store with a few hundred events, the CLI pointed at it and at a key file in tmp."""
    url = (
        f"sqlite:///{tmp_path / 'cli.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    monkeypatch.setenv("FUNDING_DATABASE_URL", url)
    monkeypatch.setenv("FUNDING_AUDIT_KEY_FILE", str(tmp_path / "keys" / "signing.pem"))
    monkeypatch.setenv("FUNDING_LOG_FORMAT", "json")
    monkeypatch.delenv("FUNDING_AUDIT_PUBLIC_KEYS", raising=False)
    ledger = Ledger(env=library_env(url))
    generate(ledger, 300)
    try:
        yield ledger
    finally:
        ledger.close()


def funding(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def checkpoint(path: Path) -> dict[str, Any]:
    result = funding("audit", "checkpoint", "--output", path)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_keygen_writes_a_private_file_and_prints_only_the_public_key(
    store: Ledger, tmp_path: Path
) -> None:
    made = funding("audit", "keygen")
    key_file = tmp_path / "keys" / "signing.pem"

    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert made.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in made.output
    assert funding("audit", "public-key").stdout == made.stdout
    again = funding("audit", "keygen")
    assert again.exit_code == 2
    assert "--rotate" in again.stderr
    kept = funding("audit", "keygen", "--if-missing")
    assert kept.exit_code == 0
    assert funding("audit", "public-key").stdout == made.stdout


def test_checkpoint_then_verify_then_tampering_is_named(store: Ledger, tmp_path: Path) -> None:
    assert funding("audit", "keygen").exit_code == 0
    head = checkpoint(tmp_path / "head.json")
    assert head["tree_size"] >= 300

    intact = funding("verify", "--checkpoint", tmp_path / "head.json")
    assert intact.exit_code == 0, intact.output
    assert "intact" in intact.stderr
    assert "1 signed checkpoint" in intact.stderr

    position = _tamper(store, os.environ["FUNDING_DATABASE_URL"])
    broken = funding("verify", "--checkpoint", tmp_path / "head.json")
    assert broken.exit_code == 1
    assert f"position {position}" in broken.stderr


def _tamper(ledger: Ledger, url: str) -> int:
    """Change one stored event's bytes behind the library's back; return its position."""
    position = ledger.recorder.select_notifications(start=100, limit=1)[0].id
    damage_event(url, position)
    return position


def test_a_checkpoint_edited_or_signed_by_another_key_is_refused(
    store: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert funding("audit", "keygen").exit_code == 0
    head = checkpoint(tmp_path / "head.json")
    for name, edit in (("tree_size", head["tree_size"] - 1), ("root_hash", "0" * 64)):
        edited = tmp_path / f"edited-{name}.json"
        edited.write_text(json.dumps({**head, name: edit}))
        refused = funding("verify", "--checkpoint", edited)
        assert refused.exit_code == 2
        assert "signature does not match" in refused.stderr

    monkeypatch.setenv("FUNDING_AUDIT_KEY_FILE", str(tmp_path / "other.pem"))
    assert funding("audit", "keygen").exit_code == 0
    refused = funding("verify", "--checkpoint", tmp_path / "head.json")
    assert refused.exit_code == 2
    assert "neither the signing key" in refused.stderr


def test_a_head_signed_by_a_retired_key_still_verifies(
    store: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert funding("audit", "keygen").exit_code == 0
    checkpoint(tmp_path / "old-head.json")
    rotated = funding("audit", "keygen", "--rotate")
    assert rotated.exit_code == 0, rotated.output
    retired = next((tmp_path / "keys").glob("*.pub.pem"))
    old_private = next((tmp_path / "keys").glob("signing.pem.*.retired"))
    assert stat.S_IMODE(old_private.stat().st_mode) == 0o600
    assert funding("verify", "--checkpoint", tmp_path / "old-head.json").exit_code == 2
    monkeypatch.setenv("FUNDING_AUDIT_PUBLIC_KEYS", json.dumps([str(retired)]))
    assert funding("verify", "--checkpoint", tmp_path / "old-head.json").exit_code == 0
    keys = json.loads(funding("audit", "public-key", "--json").stdout)["keys"]
    assert [k["current"] for k in keys] == [True, False]


def test_cli_proofs_check_with_the_standalone_verifier(store: Ledger, tmp_path: Path) -> None:
    assert funding("audit", "keygen").exit_code == 0
    (tmp_path / "key.pem").write_text(funding("audit", "public-key").stdout)
    old = checkpoint(tmp_path / "old.json")
    for i in range(20):
        create_token(store, name=f"later-{i}", role=Role.VIEWER)
    new = checkpoint(tmp_path / "new.json")
    position = store.recorder.select_notifications(start=200, limit=1)[0].id

    proof = funding("audit", "inclusion", position, "--tree-size", new["tree_size"])
    assert proof.exit_code == 0, proof.output
    (tmp_path / "inclusion.json").write_text(proof.stdout)
    checked = _verify(
        "inclusion", "--head", tmp_path / "new.json", "--public-key", tmp_path / "key.pem",
        "--proof", tmp_path / "inclusion.json",
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr

    proof = funding("audit", "consistency", "--from-size", old["tree_size"])
    (tmp_path / "consistency.json").write_text(proof.stdout)
    checked = _verify(
        "consistency", "--old-head", tmp_path / "old.json", "--new-head", tmp_path / "new.json",
        "--public-key", tmp_path / "key.pem", "--proof", tmp_path / "consistency.json",
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr

    beyond = funding("audit", "inclusion", position, "--tree-size", new["tree_size"] + 1)
    assert beyond.exit_code == 2
    assert "beyond" in beyond.stderr


def _verify(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the verifier script of this repository
        [sys.executable, "-I", str(VERIFIER), *map(str, args)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
        check=False,
    )


def test_checkpoint_without_a_key_says_how_to_make_one(store: Ledger, tmp_path: Path) -> None:
    refused = funding("audit", "checkpoint")
    assert refused.exit_code == 2
    assert "funding audit keygen" in refused.stderr
