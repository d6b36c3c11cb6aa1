"""Idempotency-Key: a request sent again is recorded once and answered as the first time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject, SetIndicator
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env

SEED = Actor(name="seed", correlation_id="seed")
LOAN = {"amount": "2500000.00", "granted_on": "2024-03-01", "duration_months": 240}


def seed_project(ledger: Ledger) -> UUID:
    """Record a Hauts-de-France project."""
    return ledger.execute(
        SEED,
        IdentifyProject(
            name="Réseau de chaleur sur eaux de mine",
            territory="epci:246200364",
            theme="energy_transition",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 5),
        ),
    ).id


@pytest.fixture
def project(api_ledger: Ledger) -> UUID:
    """A project to write to."""
    return seed_project(api_ledger)


def grant(
    client: TestClient, token: str, project: UUID, key: str, body: dict[str, Any] | None = None
) -> Response:
    """Grant a loan with an idempotency key."""
    response: Response = client.post(
        f"/v1/projects/{project}/loans",
        json=body or LOAN,
        headers={"Authorization": token, "Idempotency-Key": key},
    )
    return response


def test_the_same_key_and_body_sent_again_get_the_first_response_and_store_nothing(
    client: TestClient, tokens: dict[str, str], project: UUID, api_ledger: Ledger
) -> None:
    first = grant(client, tokens["admin"], project, "loan-1")
    head = api_ledger.head_position()

    again = grant(client, tokens["admin"], project, "loan-1")

    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert api_ledger.head_position() == head
    assert len(api_ledger.project(project).commitments) == 1


def test_a_replayed_response_says_so_in_a_header(
    client: TestClient, tokens: dict[str, str], project: UUID
) -> None:
    first = grant(client, tokens["admin"], project, "loan-1")

    again = grant(client, tokens["admin"], project, "loan-1")

    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"


def test_the_same_key_with_another_body_is_409_and_stores_nothing(
    client: TestClient, tokens: dict[str, str], project: UUID, api_ledger: Ledger
) -> None:
    grant(client, tokens["admin"], project, "loan-1")
    head = api_ledger.head_position()

    other = grant(client, tokens["admin"], project, "loan-1", {**LOAN, "amount": "2600000.00"})

    assert other.status_code == 409
    assert "loan-1" in other.json()["detail"]
    assert api_ledger.head_position() == head


def test_the_same_key_on_another_path_is_409(
    client: TestClient, tokens: dict[str, str], project: UUID, api_ledger: Ledger
) -> None:
    grant(client, tokens["admin"], project, "key-1")

    other = client.post(
        f"/v1/projects/{project}/equity-investments",
        json={"amount": "2500000.00", "invested_on": "2024-03-01"},
        headers={"Authorization": tokens["admin"], "Idempotency-Key": "key-1"},
    )

    assert other.status_code == 409


def test_a_keyed_write_sent_again_after_the_project_moved_on_gets_the_first_response(
    client: TestClient, tokens: dict[str, str], project: UUID, api_ledger: Ledger
) -> None:
    headers = {"Authorization": tokens["admin"], "Idempotency-Key": "c-1", "If-Match": "1"}
    first = client.post(f"/v1/projects/{project}/loans", json=LOAN, headers=headers)
    api_ledger.execute(
        SEED,
        SetIndicator(
            project_id=project, indicator="mwh", unit="MWh", target=10, due_on=date(2030, 1, 1)
        ),
    )

    again = client.post(f"/v1/projects/{project}/loans", json=LOAN, headers=headers)

    assert again.status_code == 201
    assert again.content == first.content


def test_a_keyed_project_identification_sent_twice_makes_one_project(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger
) -> None:
    body = {
        "name": "Centre aquatique de Liévin",
        "territory": "commune:62510",
        "theme": "culture_sport",
        "directorate": "hauts_de_france",
        "identified_on": "2024-04-01",
    }
    headers = {"Authorization": tokens["hdf"], "Idempotency-Key": "new-pool"}
    first = client.post("/v1/projects", json=body, headers=headers)
    head = api_ledger.head_position()

    again = client.post("/v1/projects", json=body, headers=headers)

    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert api_ledger.head_position() == head


def test_a_keyed_convention_signed_twice_is_signed_once(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger
) -> None:
    body = {
        "title": "Convention Action Cœur de Ville de Lens",
        "directorate": "hauts_de_france",
        "signatories": ["commune:62498"],
        "themes": ["town_centres"],
        "signed_on": "2024-05-01",
    }
    headers = {"Authorization": tokens["admin"], "Idempotency-Key": "acv-lens"}
    first = client.post("/v1/conventions", json=body, headers=headers)
    head = api_ledger.head_position()

    again = client.post("/v1/conventions", json=body, headers=headers)

    assert again.content == first.content
    assert api_ledger.head_position() == head


def test_the_keys_of_two_tokens_do_not_collide(
    client: TestClient, tokens: dict[str, str], project: UUID
) -> None:
    mine = grant(client, tokens["admin"], project, "shared-key")

    theirs = grant(client, tokens["hdf"], project, "shared-key", {**LOAN, "amount": "1000.00"})

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["commitment_id"] != theirs.json()["commitment_id"]


def test_a_refused_keyed_request_leaves_its_key_free(
    client: TestClient, tokens: dict[str, str], project: UUID
) -> None:
    refused = grant(client, tokens["admin"], project, "retry-me", {**LOAN, "amount": "1.001"})

    fixed = grant(client, tokens["admin"], project, "retry-me")

    assert (refused.status_code, fixed.status_code) == (422, 201)


def test_a_keyed_import_sent_again_gets_the_first_report(
    client: TestClient, tokens: dict[str, str], project: UUID, api_ledger: Ledger
) -> None:
    csv = f"project_id,instrument,amount,date,subject\n{project},study,90000.00,2024-02-01,Étude\n"
    headers = {
        "Authorization": tokens["admin"],
        "Content-Type": "text/csv",
        "Idempotency-Key": "import-1",
    }
    first = client.post("/v1/imports", content=csv.encode(), headers=headers)
    head = api_ledger.head_position()

    again = client.post("/v1/imports", content=csv.encode(), headers=headers)

    assert (again.status_code, again.content) == (201, first.content)
    assert again.json()["rows"][0]["status"] == "ok"
    assert api_ledger.head_position() == head


def post_raw(client: TestClient, token: str, project: UUID, key: str, raw: bytes) -> Response:
    """Grant a loan whose body is the raw JSON given, with an idempotency key."""
    response: Response = client.post(
        f"/v1/projects/{project}/loans",
        content=raw,
        headers={
            "Authorization": token,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    return response


def test_the_same_json_with_keys_in_another_order_and_other_spaces_is_the_same_request(
    client: TestClient, tokens: dict[str, str], project: UUID, api_ledger: Ledger
) -> None:
    first = post_raw(
        client,
        tokens["admin"],
        project,
        "loan-1",
        b'{"amount": 2500000.00, "granted_on": "2024-03-01", "duration_months": 240}',
    )
    head = api_ledger.head_position()

    again = post_raw(
        client,
        tokens["admin"],
        project,
        "loan-1",
        b'{\n  "duration_months":240,\n  "granted_on":"2024-03-01",\t"amount":2500000.00\n}',
    )

    assert first.status_code == 201
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert api_ledger.head_position() == head


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(b'"2500000.00"', id="the-amount-as-a-string"),
        pytest.param(b"2500000.0", id="the-amount-written-otherwise"),
        pytest.param(b"2500000.01", id="another-amount"),
    ],
)
def test_a_json_body_that_says_something_else_under_the_same_key_is_409(
    client: TestClient, tokens: dict[str, str], project: UUID, api_ledger: Ledger, other: bytes
) -> None:
    body = b'{"granted_on": "2024-03-01", "duration_months": 240, "amount": %s}'
    post_raw(client, tokens["admin"], project, "loan-1", body % b"2500000.00")
    head = api_ledger.head_position()

    again = post_raw(client, tokens["admin"], project, "loan-1", body % other)

    assert again.status_code == 409
    assert api_ledger.head_position() == head


def test_a_csv_file_with_other_bytes_under_the_same_key_is_409(
    client: TestClient, tokens: dict[str, str], project: UUID, api_ledger: Ledger
) -> None:
    csv = f"project_id,instrument,amount,date,subject\n{project},study,90000.00,2024-02-01,Étude\n"
    headers = {
        "Authorization": tokens["admin"],
        "Content-Type": "text/csv",
        "Idempotency-Key": "import-1",
    }
    client.post("/v1/imports", content=csv.encode(), headers=headers)
    head = api_ledger.head_position()

    again = client.post("/v1/imports", content=csv.replace(",", ";").encode(), headers=headers)

    assert again.status_code == 409
    assert api_ledger.head_position() == head


# Two at once --------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FastAPI, Ledger]]:
    """An app and its ledger on SQLite and on PostgreSQL, for requests from several threads."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    ledger = Ledger(env=library_env(url))
    try:
        yield create_app(Settings(database_url="memory://"), ledger), ledger
    finally:
        ledger.close()


def send_together(
    app: FastAPI, count: int, path: str, body: dict[str, Any] | str, headers: dict[str, str]
) -> list[Response]:
    """Send the same request from several threads, each with its own client, released together."""
    barrier = threading.Barrier(count)
    responses: list[Response] = []
    lock = threading.Lock()

    def send() -> None:
        # The app's lifespan runs once, around all of them: each thread's client only sends.
        client = TestClient(app)
        barrier.wait()
        if isinstance(body, str):
            response = client.post(path, content=body.encode(), headers=headers)
        else:
            response = client.post(path, json=body, headers=headers)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(count)]
    with TestClient(app):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return responses


def test_the_same_keyed_request_sent_at_once_is_recorded_once(
    shared: tuple[FastAPI, Ledger],
) -> None:
    app, ledger = shared
    token = create_token(ledger, name="admin", role=Role.ADMIN)[0]
    project = seed_project(ledger)

    responses = send_together(
        app,
        4,
        f"/v1/projects/{project}/loans",
        LOAN,
        {"Authorization": f"Bearer {token}", "Idempotency-Key": "together"},
    )

    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.content for r in responses}) == 1
    assert ledger.project(project).version == 2
    assert responses[0].json()["position"] == ledger.project_events(project)[-1].position


def test_a_keyed_project_identification_sent_at_once_makes_one_project(
    shared: tuple[FastAPI, Ledger],
) -> None:
    app, ledger = shared
    token = create_token(ledger, name="admin", role=Role.ADMIN)[0]
    head = ledger.head_position()

    responses = send_together(
        app,
        4,
        "/v1/projects",
        {
            "name": "Halle commerciale de Bruay",
            "territory": "commune:62178",
            "theme": "economic_development",
            "directorate": "hauts_de_france",
            "identified_on": "2024-04-01",
            "reference": "HDF-2024-0042",
        },
        {"Authorization": f"Bearer {token}", "Idempotency-Key": "halle"},
    )

    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.content for r in responses}) == 1
    # The project, its reference claim and the idempotency record: nothing more.
    assert ledger.head_position() == head + 3


def test_a_keyed_disbursement_of_all_that_remains_sent_at_once_is_recorded_once(
    shared: tuple[FastAPI, Ledger],
) -> None:
    app, ledger = shared
    token = create_token(ledger, name="admin", role=Role.ADMIN)[0]
    project = seed_project(ledger)
    loan = ledger.execute(
        SEED,
        GrantLoan(
            project_id=project,
            amount="1000000.00",
            granted_on=date(2024, 2, 1),
            duration_months=120,
        ),
    ).commitment_id

    responses = send_together(
        app,
        4,
        f"/v1/projects/{project}/commitments/{loan}/disbursements",
        {"amount": "1000000.00", "disbursed_on": "2024-03-01"},
        {"Authorization": f"Bearer {token}", "Idempotency-Key": "all-of-it"},
    )

    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.content for r in responses}) == 1
    assert ledger.project(project).version == 3


def test_a_keyed_import_sent_at_once_is_recorded_once(shared: tuple[FastAPI, Ledger]) -> None:
    app, ledger = shared
    token = create_token(ledger, name="admin", role=Role.ADMIN)[0]
    project = seed_project(ledger)
    head = ledger.head_position()

    responses = send_together(
        app,
        4,
        "/v1/imports",
        f"project_id,instrument,amount,date,subject\n{project},study,90000.00,2024-02-01,Étude\n",
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/csv",
            "Idempotency-Key": "import-together",
        },
    )

    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.content for r in responses}) == 1
    # The study, its commitment id's claim and the idempotency record.
    assert ledger.head_position() == head + 3
