"""Every write endpoint: 201 with what it recorded, at the log head, visible on the project."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from domain.application import Ledger
from domain.commands import (
    CorrectProject,
    Disburse,
    GrantLoan,
    IdentifyProject,
    LaunchStudy,
    SetIndicator,
    SignConvention,
)
from domain.values import Actor

SEED = Actor(name="seed", directorate="hauts_de_france", correlation_id="seed")
PROJECT_KEYS = {"id", "project_id", "version", "position"}
COMMITMENT_KEYS = {"commitment_id", "project_id", "version", "position"}
NEW_COMMITMENT = "3f1c9a52-7d1e-4b8a-9f0e-2c6d5b4a3e21"


@dataclass(frozen=True)
class World:
    """A Hauts-de-France project with a disbursed loan, a study and an indicator; a convention."""

    project: UUID
    loan: UUID
    study: UUID
    convention: UUID

    def path(self, template: str) -> str:
        """Fill a path template with this world's ids."""
        return template.format(p=self.project, loan=self.loan, study=self.study, c=self.convention)


@pytest.fixture
def world(api_ledger: Ledger) -> World:
    """A project with something under every kind of write."""
    project = api_ledger.execute(
        SEED,
        IdentifyProject(
            name="Bulles : BHNS Artois-Gohelle",
            territory="epci:246200364",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2019, 3, 20),
        ),
    ).id
    loan = api_ledger.execute(
        SEED,
        GrantLoan(
            project_id=project,
            amount="35000000.00",
            granted_on=date(2019, 7, 9),
            duration_months=480,
        ),
    ).commitment_id
    assert loan is not None
    api_ledger.execute(
        SEED,
        Disburse(
            project_id=project,
            commitment_id=loan,
            amount="10000000.00",
            disbursed_on=date(2019, 10, 15),
        ),
    )
    study = api_ledger.execute(
        SEED,
        LaunchStudy(
            project_id=project,
            amount="85000.00",
            launched_on=date(2019, 9, 2),
            subject="Programmation",
        ),
    ).commitment_id
    assert study is not None
    api_ledger.execute(
        SEED,
        SetIndicator(
            project_id=project,
            indicator="riders",
            unit="voyageurs/jour",
            target=12000,
            due_on=date(2027, 12, 31),
        ),
    )
    convention = api_ledger.execute(
        SEED,
        SignConvention(
            title="Engagement pour le renouveau du Bassin minier",
            directorate="hauts_de_france",
            signatories=["epci:246200364"],
            themes=["mobility"],
            signed_on=date(2019, 3, 12),
        ),
    ).id
    return World(project, loan, study, convention)


def commitment(project: dict[str, Any], commitment_id: str) -> dict[str, Any]:
    """Return one commitment of a project as read."""
    found: dict[str, Any] = next(
        c for c in project["commitments"] if c["commitment_id"] == commitment_id
    )
    return found


@dataclass(frozen=True)
class Case:
    """A write endpoint: its path, a valid body, the keys it answers and how a read shows it."""

    name: str
    path: str
    body: dict[str, Any]
    keys: set[str]
    shows: Callable[[dict[str, Any], dict[str, Any]], bool]

    def __str__(self) -> str:
        return self.name


PROJECT_CASES = [
    Case(
        "identify a project",
        "/v1/projects",
        {
            "name": "Pôle d'échanges multimodal de Lens",
            "territory": "commune:62498",
            "theme": "mobility",
            "programme": "action_coeur_de_ville",
            "directorate": "hauts_de_france",
            "estimated_cost": "42000000.00",
            "identified_on": "2024-02-01",
            "reference": "HDF-2024-0001",
        },
        PROJECT_KEYS,
        lambda read, _: read["reference"] == "HDF-2024-0001",
    ),
    Case(
        "correct a project",
        "/v1/projects/{p}/corrections",
        {"reason": "Intitulé précisé", "name": "Bulles : BHNS du réseau Tadao"},
        PROJECT_KEYS,
        lambda read, _: read["name"] == "Bulles : BHNS du réseau Tadao",
    ),
    Case(
        "grant a loan",
        "/v1/projects/{p}/loans",
        {
            "amount": "12000000.00",
            "granted_on": "2024-01-15",
            "duration_months": 300,
            "rate": "2.30",
            "product": "Mobi Prêt",
        },
        COMMITMENT_KEYS,
        lambda read, out: commitment(read, out["commitment_id"])["instrument"] == "loan",
    ),
    Case(
        "invest equity",
        "/v1/projects/{p}/equity-investments",
        {"amount": 450000, "invested_on": "2024-02-03", "stake_percent": 24.5, "vehicle": "SEM"},
        COMMITMENT_KEYS,
        lambda read, out: commitment(read, out["commitment_id"])["amount"] == "450000.00",
    ),
    Case(
        "launch a study",
        "/v1/projects/{p}/studies",
        {
            "amount": "120000.00",
            "launched_on": "2024-01-20",
            "subject": "Étude d'impact",
            "provider": "Cerema",
            "commitment_id": NEW_COMMITMENT,
        },
        COMMITMENT_KEYS,
        lambda read, _: commitment(read, NEW_COMMITMENT)["instrument"] == "study",
    ),
    Case(
        "deliver a study",
        "/v1/projects/{p}/studies/{study}/delivery",
        {"delivered_on": "2020-04-30"},
        COMMITMENT_KEYS,
        lambda read, out: commitment(read, out["commitment_id"])["delivered_on"] == "2020-04-30",
    ),
    Case(
        "disburse",
        "/v1/projects/{p}/commitments/{loan}/disbursements",
        {"amount": "12500000.00", "disbursed_on": "2020-06-30"},
        COMMITMENT_KEYS,
        lambda read, out: commitment(read, out["commitment_id"])["disbursed"] == "22500000.00",
    ),
    Case(
        "repay a loan",
        "/v1/projects/{p}/commitments/{loan}/repayments",
        {"principal": "875000.00", "repaid_on": "2022-07-09"},
        COMMITMENT_KEYS,
        lambda read, out: commitment(read, out["commitment_id"])["outstanding"] == "9125000.00",
    ),
    Case(
        "cancel a commitment",
        "/v1/projects/{p}/commitments/{loan}/cancellations",
        {"amount": "5000000.00", "cancelled_on": "2023-01-10", "reason": "Solde non consommé"},
        COMMITMENT_KEYS,
        lambda read, out: commitment(read, out["commitment_id"])["cancelled"] == "5000000.00",
    ),
    Case(
        "correct a commitment amount",
        "/v1/projects/{p}/commitments/{loan}/corrections",
        {"amount": "36000000.00", "reason": "Erreur de saisie"},
        COMMITMENT_KEYS,
        lambda read, out: commitment(read, out["commitment_id"])["amount"] == "36000000.00",
    ),
    Case(
        "set an indicator",
        "/v1/projects/{p}/indicators",
        {"indicator": "co2_avoided", "unit": "tCO2e/an", "target": "1200", "due_on": "2027-12-31"},
        PROJECT_KEYS,
        lambda read, _: any(i["indicator"] == "co2_avoided" for i in read["indicators"]),
    ),
    Case(
        "measure an indicator",
        "/v1/projects/{p}/indicators/riders/measurements",
        {"value": "8450", "measured_on": "2024-06-30"},
        PROJECT_KEYS,
        lambda read, _: read["indicators"][0]["measurements"] == [["2024-06-30", "8450"]],
    ),
    Case(
        "complete a project",
        "/v1/projects/{p}/completion",
        {"on": "2025-06-30", "reason": "Opération réceptionnée"},
        PROJECT_KEYS,
        lambda read, _: read["status"] == "completed",
    ),
    Case(
        "abandon a project",
        "/v1/projects/{p}/abandonment",
        {"on": "2025-06-30"},
        PROJECT_KEYS,
        lambda read, _: read["status"] == "abandoned",
    ),
    Case(
        "link a project to a convention",
        "/v1/conventions/{c}/projects",
        {"project_id": "{p}"},
        {"project_id", "convention_id", "version", "position"},
        lambda read, out: read["conventions"] == [out["convention_id"]],
    ),
]


def send(client: TestClient, world: World, case: Case, token: str, **headers: str) -> Any:
    """Send a case's request as a token holder."""
    body = {k: world.path(v) if isinstance(v, str) else v for k, v in case.body.items()}
    return client.post(
        world.path(case.path), json=body, headers={"Authorization": token, **headers}
    )


@pytest.mark.parametrize("case", PROJECT_CASES, ids=str)
def test_a_write_answers_201_with_its_keys_and_the_position_of_its_event(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger, case: Case
) -> None:
    response = send(client, world, case, tokens["hdf"])

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == case.keys
    written = UUID(body.get("project_id") or body["id"])
    positions = api_ledger.positions.event_positions(written)
    assert body["position"] == positions[body["version"]] <= api_ledger.head_position()


@pytest.mark.parametrize("case", PROJECT_CASES, ids=str)
def test_a_write_is_seen_when_the_project_is_read_at_the_version_it_answered(
    client: TestClient, tokens: dict[str, str], world: World, case: Case
) -> None:
    written = send(client, world, case, tokens["admin"]).json()

    read = client.get(
        f"/v1/projects/{written['project_id']}", headers={"Authorization": tokens["viewer"]}
    )

    assert read.json()["version"] == written["version"]
    assert case.shows(read.json(), written)


def test_signing_a_convention_answers_its_id_version_position_and_location(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger
) -> None:
    response = client.post(
        "/v1/conventions",
        json={
            "title": "Convention Territoires d'industrie du Valenciennois",
            "directorate": "hauts_de_france",
            "signatories": ["epci:245901160"],
            "themes": ["economic_development", "brownfields"],
            "signed_on": "2024-05-02",
            "ends_on": "2028-12-31",
            "envelope": "25000000.00",
        },
        headers={"Authorization": tokens["hdf"]},
    )

    body = response.json()
    assert response.status_code == 201
    assert set(body) == {"id", "version", "position"}
    assert body["position"] == api_ledger.head_position()
    assert response.headers["location"] == f"/v1/conventions/{body['id']}"
    assert api_ledger.convention(UUID(body["id"])).title.endswith("Valenciennois")


def test_identifying_a_project_answers_its_location_and_version_as_etag(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.post(
        "/v1/projects", json=PROJECT_CASES[0].body, headers={"Authorization": tokens["admin"]}
    )

    assert response.headers["location"] == f"/v1/projects/{response.json()['id']}"
    assert response.headers["etag"] == '"1"'


def test_a_write_records_the_request_id_as_its_correlation_id(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    send(client, world, PROJECT_CASES[1], tokens["hdf"], **{"X-Request-ID": "req-42"})

    last = api_ledger.project_events(world.project)[-1]
    assert last.meta == {
        "actor": "dr-hdf",
        "directorate": "hauts_de_france",
        "correlation_id": "req-42",
    }


def test_a_json_number_amount_is_read_exactly(
    client: TestClient, tokens: dict[str, str], world: World
) -> None:
    response = client.post(
        world.path("/v1/projects/{p}/commitments/{loan}/disbursements"),
        content=b'{"amount": 0.1, "disbursed_on": "2020-01-02"}',
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    read = client.get(world.path("/v1/projects/{p}"), headers={"Authorization": tokens["viewer"]})
    assert response.status_code == 201
    assert read.json()["figures"]["disbursed"] == "10000000.10"


def test_a_correction_sending_null_clears_the_estimated_cost(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    api_ledger.execute(
        SEED, CorrectProject(project_id=world.project, reason="Coût connu", estimated_cost="1.00")
    )

    client.post(
        world.path("/v1/projects/{p}/corrections"),
        json={"reason": "Coût à réévaluer", "estimated_cost": None},
        headers={"Authorization": tokens["admin"]},
    )

    assert api_ledger.project(world.project).estimated_cost is None


def test_if_match_on_another_version_is_412_and_stores_nothing(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    head = api_ledger.head_position()

    response = send(client, world, PROJECT_CASES[2], tokens["admin"], **{"If-Match": '"3"'})

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("if_match", ["5", '"5"', 'W/"5"'])
def test_if_match_on_the_current_version_writes(
    client: TestClient, tokens: dict[str, str], world: World, if_match: str
) -> None:
    response = send(client, world, PROJECT_CASES[2], tokens["admin"], **{"If-Match": if_match})

    assert response.status_code == 201
    assert response.json()["version"] == 6
