"""`funding export` / `funding import-log`, and GET /v1/audit/export."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env
from eventstore.tree import log_tree
from projections.db import ReadModelDatabase
from projections.totals import queries as totals_queries

runner = CliRunner()
HDF = Actor(name="dr-hdf", directorate="hauts_de_france")


def _fill(url: str) -> tuple[str, int]:
    """A project with a loan and an auditor's token: (token, log head)."""
    ledger = Ledger(env=library_env(url))
    try:
        token, _ = create_token(ledger, name="auditor", role=Role.AUDITOR)
        project = ledger.execute(
            HDF,
            IdentifyProject(
                name="Tramway",
                territory="commune:59650",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2024, 1, 2),
            ),
        )
        ledger.execute(
            HDF,
            GrantLoan(
                project_id=project.id,
                amount="1500000.25",
                granted_on=date(2024, 3, 1),
                duration_months=60,
            ),
        )
        return token, ledger.head_position()
    finally:
        ledger.close()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FUNDING_LOG_FORMAT", "json")
    monkeypatch.setenv("FUNDING_AUDIT_KEY_FILE", str(tmp_path / "no-key.pem"))
    return tmp_path


def _use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("FUNDING_DATABASE_URL", url)


def test_export_then_import_log_gives_the_same_root_and_totals(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"sqlite:///{cli_env / 'source.sqlite3'}"
    target = f"sqlite:///{cli_env / 'target.sqlite3'}"
    _fill(source)
    export = cli_env / "log.ndjson"
    _use(monkeypatch, source)

    exported = runner.invoke(app, ["export", "--format", "ndjson", "--output", str(export)])
    _use(monkeypatch, target)
    imported = runner.invoke(app, ["import-log", str(export)])

    assert exported.exit_code == 0, exported.output
    assert imported.exit_code == 0, imported.output
    assert "Read models rebuilt" in imported.stderr
    roots = []
    for url in (source, target):
        ledger = Ledger(env=library_env(url))
        roots.append(log_tree(ledger.recorder).root())
        ledger.close()
    assert roots[0] == roots[1]
    assert json.loads(export.read_text().splitlines()[-1])["root_hash"] == roots[0].hex()
    db = ReadModelDatabase.from_url(target)
    assert str(totals_queries.totals(db, [], {}).total["committed"]) == "1500000.25"
    db.close()


def test_import_log_refuses_an_altered_file_naming_its_line_and_exits_1(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"sqlite:///{cli_env / 'source.sqlite3'}"
    _fill(source)
    export = cli_env / "log.ndjson"
    _use(monkeypatch, source)
    runner.invoke(app, ["export", "--format", "ndjson", "--output", str(export)])
    export.write_text(export.read_text().replace('"dr-hdf"', '"dr-idf"', 1))
    _use(monkeypatch, f"sqlite:///{cli_env / 'target.sqlite3'}")

    result = runner.invoke(app, ["import-log", str(export)])

    assert result.exit_code == 1
    assert "line 2:" in result.stderr  # the project's: the token's is line 1
    assert "Nothing was loaded" in result.stderr


def test_import_log_refuses_a_store_holding_events(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"sqlite:///{cli_env / 'source.sqlite3'}"
    _fill(source)
    export = cli_env / "log.ndjson"
    _use(monkeypatch, source)
    runner.invoke(app, ["export", "--format", "ndjson", "--output", str(export)])

    result = runner.invoke(app, ["import-log", str(export)])

    assert result.exit_code == 2
    assert "already holds events" in result.stderr


def test_export_csv_with_semicolons_to_standard_output(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, f"sqlite:///{cli_env / 'source.sqlite3'}")
    _, head = _fill(f"sqlite:///{cli_env / 'source.sqlite3'}")

    result = runner.invoke(app, ["export", "--format", "csv", "--sep", ";"])

    lines = result.stdout_bytes.decode("utf-8-sig").splitlines()
    assert result.exit_code == 0
    assert lines[0].startswith("position;leaf_index;recorded_at")
    assert len(lines) == 1 + head
    assert any(";1500000,25;" in line for line in lines)


@pytest.mark.parametrize(
    ("output_format", "media_type", "filename"),
    [
        ("ndjson", "application/x-ndjson", "funding-log.ndjson"),
        ("csv", "text/csv; charset=utf-8", "funding-log.csv"),
        ("iati", "application/xml", "funding-iati-activities.xml"),
        ("scdl", "text/csv; charset=utf-8", "funding-scdl-subventions.csv"),
    ],
)
def test_the_api_streams_each_export_as_a_named_file(
    tmp_path: Path, output_format: str, media_type: str, filename: str
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    token, head = _fill(url)
    ledger = Ledger(env=library_env(url))
    settings = Settings(database_url=url, audit_key_file=tmp_path / "no-key.pem")

    with TestClient(create_app(settings, ledger, ReadModelDatabase.from_url(url))) as client:
        response = client.get(
            "/v1/audit/export",
            params={"format": output_format},
            headers={"Authorization": f"Bearer {token}"},
        )
    ledger.close()

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    if output_format == "ndjson":
        lines = response.text.splitlines()
        assert len(lines) == head + 1
        assert json.loads(lines[-1])["tree_size"] == head


def test_the_api_export_refuses_an_unknown_format_and_a_viewer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    token, _ = _fill(url)
    ledger = Ledger(env=library_env(url))
    viewer, _ = create_token(ledger, name="viewer", role=Role.VIEWER)
    settings = Settings(database_url=url)

    with TestClient(create_app(settings, ledger, ReadModelDatabase.from_url(url))) as client:
        unknown = client.get(
            "/v1/audit/export?format=xlsx", headers={"Authorization": f"Bearer {token}"}
        )
        refused = client.get(
            "/v1/audit/export?format=csv", headers={"Authorization": f"Bearer {viewer}"}
        )
    ledger.close()

    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["query", "format"]
    assert refused.status_code == 403
