"""`funding report --as-at` and `funding audit replay` on an SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from demo.synthetic import generate
from domain.application import Ledger
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.generations import live_generation
from projections.totals.queries import totals

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store of 400 synthetic events, its read models caught up; the CLI pointed at it."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("FUNDING_DATABASE_URL", url)
    monkeypatch.setenv("FUNDING_LOG_FORMAT", "json")
    ledger = Ledger(env=library_env(url))
    db = ReadModelDatabase.from_url(url)
    generate(ledger, 400, seed=3)
    catch_up(ledger, db)
    db.close()
    ledger.close()
    return url


def test_report_as_at_now_prints_the_live_totals_as_json(database_url: str) -> None:
    result = runner.invoke(
        app,
        ["report", "--as-at", datetime.now(UTC).isoformat(), "--group-by", "region,instrument"],
    )

    db = ReadModelDatabase.from_url(database_url)
    live = totals(db, ["region", "instrument"])
    db.close()
    body = json.loads(result.stdout)
    assert result.exit_code == 0
    assert body["total"]["committed"] == f"{live.total['committed']:.2f}"
    assert len(body["rows"]) == len(live.rows)
    assert body["position"] == body["tree_size"] == live.position


def test_report_prints_csv_with_filters_and_dates(database_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "report",
            "--as-at",
            datetime.now(UTC).isoformat(),
            "--group-by",
            "year",
            "--format",
            "csv",
            "--filter",
            "instrument=loan",
            "--from",
            "2020-01-01",
            "--to",
            "2024-12-31",
            "--sep",
            ";",
        ],
    )

    lines = result.stdout.lstrip("\ufeff").splitlines()
    assert result.exit_code == 0
    assert lines[0].startswith("year;committed;")
    assert lines[-1].startswith("total;")
    assert {line.split(";")[0] for line in lines[1:-1]} <= {"2020", "2021", "2022", "2023", "2024"}


def test_report_as_at_a_time_without_offset_is_refused(database_url: str) -> None:
    result = runner.invoke(app, ["report", "--as-at", "2025-01-15T12:00"])

    assert result.exit_code == 2
    assert "no offset" in result.stderr


def test_report_names_an_unknown_filter(database_url: str) -> None:
    result = runner.invoke(app, ["report", "--as-at", "2025-01-15", "--filter", "colour=blue"])

    assert result.exit_code == 2
    assert "colour" in result.stderr


def test_audit_replay_passes_on_a_healthy_store(database_url: str) -> None:
    result = runner.invoke(app, ["audit", "replay"])

    assert result.exit_code == 0
    assert result.stdout == ""
    assert "11 tables equal" in result.stderr


def test_audit_replay_fails_naming_a_row_edited_by_hand(database_url: str) -> None:
    db = ReadModelDatabase.from_url(database_url)
    generation = live_generation(db, "totals")
    with db.transaction() as cur:
        cur.execute(
            f"UPDATE {db.table(f'facts_g{generation}')} SET disbursed = disbursed + 100 "  # noqa: S608
            "WHERE position = (SELECT MIN(position) FROM "
            f"{db.table(f'facts_g{generation}')} WHERE kind = 'disbursed')"
        )
        cur.execute(
            f"SELECT position, disbursed FROM {db.table(f'facts_g{generation}')} "  # noqa: S608
            "WHERE kind = 'disbursed' ORDER BY position LIMIT 1"
        )
        row = cur.fetchone()
    db.close()
    assert row is not None

    result = runner.invoke(app, ["audit", "replay"])

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"facts [position={row[0]}] disbursed: live {row[1]}, replayed {row[1] - 100}"
    ]
    assert "1 difference " in result.stderr
