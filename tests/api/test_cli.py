"""The `funding` command line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.tokens import authenticate
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject, LaunchStudy
from domain.values import Actor
from eventstore.settings import library_env

runner = CliRunner()


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the CLI at a fresh SQLite file."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("FUNDING_DATABASE_URL", url)
    monkeypatch.setenv("FUNDING_LOG_FORMAT", "json")
    return url


def test_territories_show_prints_one_json_object() -> None:
    result = runner.invoke(app, ["territories", "show", "commune:59650"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "code": "commune:59650",
        "name": "Wattrelos",
        "level": "commune",
        "parents": ["epci:200093201", "departement:59", "region:32"],
        "population": 40847,
        "band": "medium",
    }


def test_territories_show_names_an_unknown_code() -> None:
    result = runner.invoke(app, ["territories", "show", "commune:99999"])

    assert result.exit_code == 2
    assert "commune:99999" in result.stderr


def test_tokens_create_prints_a_working_token_alone_on_the_last_line(database_url: str) -> None:
    result = runner.invoke(
        app,
        ["tokens", "create", "--role", "directorate", "--directorate", "bretagne", "--name", "b"],
    )

    token = result.stdout.strip().splitlines()[-1]
    ledger = Ledger(env=library_env(database_url))
    principal = authenticate(ledger, token)
    ledger.close()
    assert result.exit_code == 0
    assert principal is not None
    assert (principal.role, principal.directorate) == ("directorate", "bretagne")


def test_tokens_are_stored_hashed(database_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["tokens", "create", "--role", "viewer", "--name", "v"])

    token = result.stdout.strip().splitlines()[-1]
    assert token.encode() not in (tmp_path / "cli.sqlite3").read_bytes()


def test_a_directorate_token_needs_a_directorate(database_url: str) -> None:
    result = runner.invoke(app, ["tokens", "create", "--role", "directorate", "--name", "x"])

    assert result.exit_code == 2
    assert "directorate" in result.stderr


def test_history_prints_a_project_s_events_in_order(database_url: str) -> None:
    ledger = Ledger(env=library_env(database_url))
    actor = Actor(name="cli-test")
    project = ledger.execute(
        actor,
        IdentifyProject(
            name="Médiathèque",
            territory="commune:59632",
            theme="culture_sport",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 15),
        ),
    )
    ledger.execute(
        actor,
        LaunchStudy(
            project_id=project.id,
            amount="45000",
            launched_on=date(2024, 2, 1),
            subject="Faisabilité",
        ),
    )
    ledger.close()

    result = runner.invoke(app, ["history", str(project.id)])

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["ProjectIdentified", "StudyLaunched"]
    assert lines[1]["data"]["amount"] == "45000.00"
    assert lines[0]["actor"] == "cli-test"


def test_rebuild_builds_every_read_model_in_one_pass_and_swaps_them_in(database_url: str) -> None:
    from projections.db import ReadModelDatabase
    from projections.generations import generations
    from projections.registry import READ_MODELS
    from projections.totals import queries

    ledger = Ledger(env=library_env(database_url))
    actor = Actor(name="cli-tests")
    project = ledger.execute(
        actor,
        IdentifyProject(
            name="Tramway",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 2),
        ),
    )
    written = ledger.execute(
        actor,
        GrantLoan(
            project_id=project.id, amount="1250.50", granted_on=date(2024, 3, 1), duration_months=60
        ),
    )
    ledger.close()

    result = runner.invoke(app, ["rebuild"])

    assert result.exit_code == 0, result.stderr
    assert f"totals, projects: rebuilt to position {written.position}" in result.stderr
    db = ReadModelDatabase.from_url(database_url)
    try:
        live = {g.read_model: g for g in generations(db) if g.live}
        assert set(live) == set(READ_MODELS)
        assert str(queries.totals(db).total["committed"]) == "1250.50"
        assert queries.totals(db).position == written.position
    finally:
        db.close()


def test_rebuild_names_an_unknown_read_model(database_url: str) -> None:
    result = runner.invoke(app, ["rebuild", "budgets"])

    assert result.exit_code != 0
    assert "budgets" in result.stderr


def test_demo_loads_into_a_store_holding_only_tokens(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import demo

    runner.invoke(app, ["tokens", "create", "--role", "admin", "--name", "admin"])
    loaded: list[Ledger] = []

    def load(ledger: Ledger, progress: object = None) -> demo.DemoSummary:
        loaded.append(ledger)
        return demo.DemoSummary(projects=1, conventions=0, commitments=0, events=1, loaded=True)

    monkeypatch.setattr(demo, "load_demo", load)

    result = runner.invoke(app, ["demo"])

    assert result.exit_code == 0, result.stderr
    assert len(loaded) == 1
    assert "Loaded 1 projects" in result.stderr


def test_demo_leaves_a_store_holding_a_project_untouched(database_url: str) -> None:
    ledger = Ledger(env=library_env(database_url))
    ledger.execute(
        Actor(name="cli-tests"),
        IdentifyProject(
            name="Tramway",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 2),
        ),
    )
    head = ledger.head_position()
    ledger.close()

    result = runner.invoke(app, ["demo"])

    assert result.exit_code == 0, result.stderr
    assert "nothing loaded" in result.stderr
    ledger = Ledger(env=library_env(database_url))
    assert ledger.head_position() == head
    ledger.close()
