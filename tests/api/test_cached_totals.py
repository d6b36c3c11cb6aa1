"""Repeated totals questions answered from the cache (PostgreSQL, where states are followed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import reads
from api.settings import Settings
from api.tokens import create_token, revoke_token
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.totals import queries
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for

pytestmark = pytest.mark.postgres
ACTOR = Actor(name="cache-tests")
QUESTION = "/v1/totals?group_by=region,theme&year=2024"


@dataclass
class Served:
    ledger: Ledger
    read_models: ReadModelDatabase
    url: str
    schema: str

    def app(self, **settings: Any) -> TestClient:
        config = Settings(database_url=self.url, reporting_schema=self.schema, **settings)
        return TestClient(create_app(config, self.ledger, self.read_models))

    def grant(self, amount: str) -> int:
        project = self.ledger.execute(
            ACTOR,
            IdentifyProject(
                name="Tramway",
                territory="commune:59650",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2024, 1, 2),
            ),
        )
        written = self.ledger.execute(
            ACTOR,
            GrantLoan(
                project_id=project.id,
                amount=amount,
                granted_on=date(2024, 3, 1),
                duration_months=60,
            ),
        )
        catch_up(self.ledger, self.read_models)
        return written.position


@pytest.fixture
def served(postgres_url: str) -> Iterator[Served]:
    schema = reporting_schema_for(postgres_url)
    ledger = Ledger(env=library_env(postgres_url))
    read_models = ReadModelDatabase.from_url(postgres_url, schema)
    try:
        yield Served(ledger, read_models, postgres_url, schema)
    finally:
        read_models.close()
        ledger.close()
        drop_reporting_schema(postgres_url, schema)


def ask(client: TestClient, position: int, token: str | None) -> dict[str, object]:
    """Ask until the app's followed state reaches `position` (it is told by NOTIFY)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    states = client.app.state.live_states  # type: ignore[attr-defined]
    assert states.wait_for("totals", position, timeout=10) is not None
    response = client.get(QUESTION, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_repeated_question_is_answered_from_the_cache_and_follows_new_events(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer, _ = create_token(served.ledger, name="viewer", role=Role.VIEWER)
    first = served.grant("100.00")
    with served.app() as client:
        answered = ask(client, first, viewer)
        # From now on the same question must not reach the route, nor the query module.
        monkeypatch.setattr(queries, "totals", lambda *_a, **_k: pytest.fail("not cached"))
        monkeypatch.setattr(reads, "remember_raw", lambda *_a, **_k: pytest.fail("routed"))
        again = client.get(QUESTION, headers={"Authorization": f"Bearer {viewer}"})
        assert again.status_code == 200
        assert again.json() == answered
        assert again.headers["content-type"] == "application/json"
        assert again.headers["x-request-id"]
        monkeypatch.undo()
        # A new event moves the read model: the next answer is computed afresh.
        second = served.grant("50.00")
        moved = ask(client, second, viewer)
        assert moved["position"] == second
        assert moved["total"] != answered["total"]


def test_the_cache_never_answers_a_caller_the_app_would_refuse(served: Served) -> None:
    viewer, _ = create_token(served.ledger, name="viewer", role=Role.VIEWER)
    position = served.grant("100.00")
    with served.app() as client:
        ask(client, position, viewer)
        assert client.get(QUESTION).status_code == 401
        bad = client.get(QUESTION, headers={"Authorization": "Bearer ft_not-a-token"})
        assert bad.status_code == 401
        basic = client.get(QUESTION, headers={"Authorization": f"Basic {viewer}"})
        assert basic.status_code == 401
        revoke_token(served.ledger, "viewer")
        revoked = client.get(QUESTION, headers={"Authorization": f"Bearer {viewer}"})
        assert revoked.status_code == 401
        assert revoked.headers["content-type"] == "application/problem+json"


def test_public_read_lets_the_cache_answer_without_a_token(served: Served) -> None:
    position = served.grant("100.00")
    with served.app(public_read=True) as client:
        first = ask(client, position, None)
        assert ask(client, position, None) == first
