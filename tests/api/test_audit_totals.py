"""GET /v1/audit/totals: the portfolio as at a past time, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tokens import create_token
from demo.synthetic import generate
from domain.application import Ledger
from domain.commands import CorrectCommitmentAmount, GrantLoan, IdentifyProject
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.sql import Dialect
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")
# Ten questions, each grouping (and some filtering) differently.
QUESTIONS: list[dict[str, str]] = [
    {},
    {"group_by": "region"},
    {"group_by": "departement,instrument"},
    {"group_by": "epci,theme", "territory": "region:32"},
    {"group_by": "commune", "theme": "mobility"},
    {"group_by": "band,year"},
    {"group_by": "programme,quarter"},
    {"group_by": "directorate,month", "from": "2021-01-01", "to": "2023-06-30"},
    {"group_by": "convention,instrument"},
    {"group_by": "theme,year", "from": "2020-01-01", "to": "2024-12-31"},
]


@dataclass
class Api:
    """An app on a store, its ledger, read models and tokens."""

    client: TestClient
    ledger: Ledger
    read_models: ReadModelDatabase
    tokens: dict[str, str] = field(default_factory=dict)

    def sign_in(self, *roles: str) -> None:
        """Make the roles' tokens now (else on first use: after what a test records)."""
        for role in roles:
            if role not in self.tokens:
                secret = create_token(self.ledger, name=role, role=Role(role))[0]
                self.tokens[role] = f"Bearer {secret}"

    def get(self, path: str, params: dict[str, str], role: str = "auditor") -> Any:
        self.sign_in(role)
        return self.client.get(path, params=params, headers={"Authorization": self.tokens[role]})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def api(store: str) -> Iterator[Api]:
    schema = reporting_schema_for(store)
    ledger = Ledger(env=library_env(store))
    read_models = ReadModelDatabase.from_url(store, reporting_schema=schema)
    settings = Settings(database_url=store, reporting_schema=schema, read_wait_timeout=2)
    try:
        with TestClient(create_app(settings, ledger, read_models)) as client:
            yield Api(client, ledger, read_models)
    finally:
        read_models.close()
        ledger.close()
        if read_models.dialect is Dialect.POSTGRES:
            drop_reporting_schema(store, schema)


def _loan(ledger: Ledger, amount: str) -> tuple[Any, Any]:
    project = ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Tramway",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 10),
        ),
    )
    loan = ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project.id, amount=amount, granted_on=date(2024, 3, 1), duration_months=120
        ),
    )
    return project, loan


def test_a_correction_recorded_after_the_instant_is_absent_as_at_it_and_present_now(
    api: Api,
) -> None:
    project, loan = _loan(api.ledger, "1000.00")
    before_correction = datetime.now(UTC)
    api.ledger.execute(
        ACTOR,
        CorrectCommitmentAmount(
            project_id=project.id,
            commitment_id=loan.commitment_id,
            amount="1500.00",
            reason="erreur de saisie",
        ),
    )

    then = api.get("/v1/audit/totals", {"as_at": before_correction.isoformat()}).json()
    now = api.get("/v1/audit/totals", {"as_at": datetime.now(UTC).isoformat()}).json()

    assert then["total"]["committed"] == "1000.00"
    assert then["position"] == loan.position
    assert then["final"] is True
    assert now["total"]["committed"] == "1500.00"
    assert now["position"] == api.ledger.head_position()
    assert now["tree_size"] == api.ledger.head_position()


def test_the_report_as_at_now_equals_the_totals_for_ten_questions_in_json_and_csv(
    api: Api,
) -> None:
    api.sign_in("viewer", "auditor")
    generate(api.ledger, 1500, seed=11)
    catch_up(api.ledger, api.read_models)

    for question in QUESTIONS:
        live = api.get("/v1/totals", question, role="viewer")
        as_at = api.get("/v1/audit/totals", {**question, "as_at": datetime.now(UTC).isoformat()})
        live_csv = api.get("/v1/totals", {**question, "format": "csv"}, role="viewer")
        as_at_csv = api.get(
            "/v1/audit/totals",
            {**question, "format": "csv", "as_at": datetime.now(UTC).isoformat()},
        )

        assert live.status_code == as_at.status_code == 200, question
        assert as_at.json()["rows"] == live.json()["rows"], question
        assert as_at.json()["total"] == live.json()["total"], question
        assert as_at.json()["position"] == live.json()["position"], question
        assert as_at_csv.text == live_csv.text, question
        assert as_at_csv.headers["x-position"] == live_csv.headers["x-position"], question
    assert as_at.json()["total"]["commitments"] > 0


def test_a_date_alone_is_the_end_of_that_day_in_paris(api: Api) -> None:
    _loan(api.ledger, "1000.00")
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    yesterday = today - timedelta(days=1)

    answer = api.get("/v1/audit/totals", {"as_at": yesterday.isoformat()})

    body = answer.json()
    assert answer.status_code == 200
    assert (
        body["as_at_paris"]
        == f"{yesterday.isoformat()}T23:59:59.999999+0{1 if _winter(yesterday) else 2}:00"
    )
    assert datetime.fromisoformat(body["as_at"]) == datetime.fromisoformat(body["as_at_paris"])
    assert (body["position"], body["tree_size"], body["final"]) == (0, 0, True)
    assert body["total"]["committed"] == "0.00"


def test_a_date_alone_counts_what_was_recorded_by_midnight_in_paris(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 23:30 in Paris on 31 December, then 00:30 in Paris on 1 January (both 31 Dec in UTC).
    monkeypatch.setattr(
        "eventsourcing.domain.datetime_now_with_tzinfo",
        lambda: datetime(2024, 12, 31, 22, 30, tzinfo=UTC),
    )
    project = api.ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Tramway",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 12, 1),
        ),
    )
    monkeypatch.setattr(
        "eventsourcing.domain.datetime_now_with_tzinfo",
        lambda: datetime(2024, 12, 31, 23, 30, tzinfo=UTC),
    )
    api.ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project.id,
            amount="1000.00",
            granted_on=date(2024, 12, 2),
            duration_months=12,
        ),
    )
    monkeypatch.undo()

    on_the_31st = api.get("/v1/audit/totals", {"as_at": "2024-12-31"}).json()
    on_the_1st = api.get("/v1/audit/totals", {"as_at": "2025-01-01"}).json()

    assert on_the_31st["as_at"] == "2024-12-31T22:59:59.999999Z"
    assert on_the_31st["as_at_paris"] == "2024-12-31T23:59:59.999999+01:00"
    assert (on_the_31st["total"]["projects"], on_the_31st["total"]["committed"]) == (1, "0.00")
    assert (on_the_31st["position"], on_the_31st["tree_size"]) == (project.position, 1)
    assert on_the_1st["total"]["committed"] == "1000.00"


def _winter(day: date) -> bool:
    offset = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("Europe/Paris")).utcoffset()
    return offset == timedelta(hours=1)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_at": "2025-01-15T12:00:00"}, "as_at"),
        ({"as_at": "soon"}, "as_at"),
        ({"as_at": "2999-01-01"}, "as_at"),
        ({"as_at": "2025-01-15", "group_by": "planet"}, "group_by"),
        ({"as_at": "2025-01-15", "colour": "blue"}, "colour"),
        ({"as_at": "2025-01-15", "from": "2025-02-01", "to": "2025-01-01"}, "from"),
        ({}, "as_at"),
    ],
)
def test_a_bad_question_is_refused_with_a_problem_naming_it(
    api: Api, params: dict[str, str], field: str
) -> None:
    answer = api.get("/v1/audit/totals", params)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.text


def test_a_viewer_may_not_ask_the_totals_as_at_a_time(api: Api) -> None:
    answer = api.get("/v1/audit/totals", {"as_at": "2025-01-15"}, role="viewer")

    assert answer.status_code == 403


def test_an_admin_may_ask_the_totals_as_at_a_time(api: Api) -> None:
    answer = api.get("/v1/audit/totals", {"as_at": "2025-01-15"}, role="admin")

    assert answer.status_code == 200
