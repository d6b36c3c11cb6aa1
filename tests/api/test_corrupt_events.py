"""A stored event whose bytes are damaged: answered as a problem naming it, never a bare 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from api.app import create_app
from api.problems import PROBLEM
from api.routes import audit
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env
from tests.corruption import damage_event

ACTOR = Actor(name="corruption-tests")


@dataclass(frozen=True)
class Damaged:
    """An API over a store where the second event of a project is damaged."""

    client: TestClient
    ledger: Ledger
    project_id: UUID
    healthy_id: UUID
    position: int
    admin: dict[str, str]
    auditor: dict[str, str]


def identify(ledger: Ledger, name: str) -> UUID:
    """Record a project of Hauts-de-France."""
    return ledger.execute(
        ACTOR,
        IdentifyProject(
            name=name,
            territory="commune:59350",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 2),
        ),
    ).id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Damaged]:
    """Record tokens and two projects, damage one project's loan, then serve the store afresh."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    writer = Ledger(env=library_env(url))
    admin = create_token(writer, name="admin", role=Role.ADMIN)[0]
    auditor = create_token(writer, name="auditor", role=Role.AUDITOR)[0]
    project_id = identify(writer, "Damaged")
    writer.execute(
        ACTOR,
        GrantLoan(
            project_id=project_id, amount="500.00", granted_on=date(2024, 3, 1), duration_months=60
        ),
    )
    healthy_id = identify(writer, "Healthy")
    position = writer.positions.event_positions(project_id)[2]
    writer.close()
    damage_event(url, position)
    # A new ledger: none of the project's events are in its aggregate cache.
    ledger = Ledger(env=library_env(url))
    try:
        with TestClient(create_app(Settings(database_url="memory://"), ledger)) as client:
            yield Damaged(
                client,
                ledger,
                project_id,
                healthy_id,
                position,
                {"Authorization": f"Bearer {admin}"},
                {"Authorization": f"Bearer {auditor}"},
            )
    finally:
        ledger.close()


def assert_corrupt_event_problem(response: httpx.Response, damaged: Damaged) -> None:
    """The answer is a corrupt-event problem naming the damaged event."""
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/corrupt-event")
    assert (body["position"], body["aggregate_id"], body["version"]) == (
        damaged.position,
        str(damaged.project_id),
        2,
    )
    assert f"log position {damaged.position}" in body["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/projects/{id}",
        "/v1/projects/{id}?version=2",
        "/v1/projects/{id}?as_at={now}",
        "/v1/projects/{id}/events",
    ],
)
def test_reading_a_project_with_a_damaged_event_answers_a_problem_naming_the_event(
    damaged: Damaged, path: str
) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    response = damaged.client.get(
        path.format(id=damaged.project_id, now=now), headers=damaged.auditor
    )

    assert_corrupt_event_problem(response, damaged)


def test_the_project_before_its_damaged_event_is_still_read(damaged: Damaged) -> None:
    response = damaged.client.get(
        f"/v1/projects/{damaged.project_id}?version=1", headers=damaged.auditor
    )

    assert response.status_code == 200
    assert response.json()["version"] == 1


def test_another_project_is_still_read_beside_a_damaged_one(damaged: Damaged) -> None:
    response = damaged.client.get(f"/v1/projects/{damaged.healthy_id}", headers=damaged.auditor)

    assert response.status_code == 200


def test_a_write_to_a_project_with_a_damaged_event_answers_a_problem_and_records_nothing(
    damaged: Damaged,
) -> None:
    head = damaged.ledger.head_position()

    response = damaged.client.post(
        f"/v1/projects/{damaged.project_id}/loans",
        json={"amount": "10.00", "granted_on": "2024-04-01", "duration_months": 12},
        headers=damaged.admin,
    )

    assert_corrupt_event_problem(response, damaged)
    assert damaged.ledger.head_position() == head


@pytest.mark.parametrize("accept", ["application/json", "application/x-ndjson"])
def test_the_audit_log_answers_a_problem_naming_a_damaged_event_in_its_page(
    damaged: Damaged, accept: str
) -> None:
    response = damaged.client.get("/v1/audit/events", headers={**damaged.auditor, "Accept": accept})

    assert_corrupt_event_problem(response, damaged)


def test_the_audit_log_before_a_damaged_event_is_still_read(damaged: Damaged) -> None:
    response = damaged.client.get(
        f"/v1/audit/events?limit={damaged.position - 1}", headers=damaged.auditor
    )

    assert response.status_code == 200
    assert [e["position"] for e in response.json()["events"]] == list(range(1, damaged.position))


def test_a_stream_of_the_audit_log_stops_before_a_damaged_event_of_a_later_page_naming_it(
    damaged: Damaged, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "STREAM_PAGE", 1)
    # The stream is cut (a real client sees an incomplete answer): read what arrived.
    client = TestClient(damaged.client.app, raise_server_exceptions=False)

    with capture_logs() as logs:
        response = client.get(
            "/v1/audit/events", headers={**damaged.auditor, "Accept": "application/x-ndjson"}
        )

    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [e["position"] for e in lines] == list(range(1, damaged.position))
    assert any(e["event"] == "corrupt_event" and e["position"] == damaged.position for e in logs)


def test_a_damaged_event_is_logged_with_its_position(damaged: Damaged) -> None:
    with capture_logs() as logs:
        damaged.client.get(f"/v1/projects/{damaged.project_id}", headers=damaged.auditor)

    found = [e for e in logs if e["event"] == "corrupt_event"]
    assert len(found) == 1
    assert (found[0]["position"], found[0]["aggregate_id"], found[0]["version"]) == (
        damaged.position,
        str(damaged.project_id),
        2,
    )
    assert found[0]["log_level"] == "error"
