"""Who may write: admin and directorates (for their own projects and regions), nobody else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.tokens import create_token, revoke_token
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject, LaunchStudy, SetIndicator, SignConvention
from domain.tokens import Role
from domain.values import Actor

SEED = Actor(name="seed", correlation_id="seed")


@dataclass(frozen=True)
class Target:
    """A directorate's project (with a loan, a study and an indicator) and convention."""

    directorate: str
    territory: str
    project: UUID
    loan: UUID
    study: UUID
    convention: UUID

    def fill(self, template: str) -> str:
        """Fill a template with this target's ids and codes."""
        return template.format(
            p=self.project,
            loan=self.loan,
            study=self.study,
            c=self.convention,
            directorate=self.directorate,
            territory=self.territory,
        )


def seed_target(ledger: Ledger, directorate: str, territory: str) -> Target:
    """Record a project with something under every kind of write, and a convention."""
    project = ledger.execute(
        SEED,
        IdentifyProject(
            name="Projet",
            territory=territory,
            theme="mobility",
            directorate=directorate,
            identified_on=date(2019, 1, 10),
        ),
    ).id
    loan = ledger.execute(
        SEED,
        GrantLoan(
            project_id=project,
            amount="1000000.00",
            granted_on=date(2019, 2, 1),
            duration_months=120,
        ),
    ).commitment_id
    study = ledger.execute(
        SEED,
        LaunchStudy(
            project_id=project,
            amount="50000.00",
            launched_on=date(2019, 2, 1),
            subject="Faisabilité",
        ),
    ).commitment_id
    ledger.execute(
        SEED,
        SetIndicator(
            project_id=project,
            indicator="riders",
            unit="voyageurs",
            target=100,
            due_on=date(2027, 1, 1),
        ),
    )
    convention = ledger.execute(
        SEED,
        SignConvention(
            title="Convention",
            directorate=directorate,
            signatories=[territory],
            themes=["mobility"],
            signed_on=date(2019, 1, 1),
        ),
    ).id
    assert loan is not None
    assert study is not None
    return Target(directorate, territory, project, loan, study, convention)


@pytest.fixture
def targets(api_ledger: Ledger) -> dict[str, Target]:
    """The Hauts-de-France token's own target, and another directorate's."""
    return {
        "own": seed_target(api_ledger, "hauts_de_france", "epci:246200364"),
        "other": seed_target(api_ledger, "bretagne", "commune:35115"),
    }


@pytest.fixture
def revoked(api_ledger: Ledger) -> str:
    """A token that was revoked."""
    secret, _ = create_token(api_ledger, name="former", role=Role.ADMIN)
    revoke_token(api_ledger, "former")
    return f"Bearer {secret}"


@dataclass(frozen=True)
class Case:
    """A write endpoint with a body valid for any target."""

    name: str
    path: str
    body: dict[str, Any] | str

    def __str__(self) -> str:
        return self.name


CASES = [
    Case(
        "identify",
        "/v1/projects",
        {
            "name": "Nouveau projet",
            "territory": "{territory}",
            "theme": "mobility",
            "directorate": "{directorate}",
            "identified_on": "2024-01-01",
        },
    ),
    Case("correct", "/v1/projects/{p}/corrections", {"reason": "Intitulé", "name": "Autre"}),
    Case(
        "loan",
        "/v1/projects/{p}/loans",
        {"amount": "1000.00", "granted_on": "2024-01-01", "duration_months": 12},
    ),
    Case(
        "equity",
        "/v1/projects/{p}/equity-investments",
        {"amount": "1000.00", "invested_on": "2024-01-01"},
    ),
    Case(
        "study",
        "/v1/projects/{p}/studies",
        {"amount": "1000.00", "launched_on": "2024-01-01", "subject": "Étude"},
    ),
    Case("delivery", "/v1/projects/{p}/studies/{study}/delivery", {"delivered_on": "2024-01-01"}),
    Case(
        "disbursement",
        "/v1/projects/{p}/commitments/{loan}/disbursements",
        {"amount": "1000.00", "disbursed_on": "2024-01-01"},
    ),
    Case(
        "cancellation",
        "/v1/projects/{p}/commitments/{loan}/cancellations",
        {"amount": "1000.00", "cancelled_on": "2024-01-01", "reason": "Solde"},
    ),
    Case(
        "amount correction",
        "/v1/projects/{p}/commitments/{loan}/corrections",
        {"amount": "900000.00", "reason": "Erreur de saisie"},
    ),
    Case(
        "commitment voiding",
        "/v1/projects/{p}/commitments/{loan}/voiding",
        {"reason": "Saisi deux fois"},
    ),
    Case(
        "indicator",
        "/v1/projects/{p}/indicators",
        {"indicator": "homes", "unit": "logements", "target": 10, "due_on": "2027-01-01"},
    ),
    Case(
        "measurement",
        "/v1/projects/{p}/indicators/riders/measurements",
        {"value": 50, "measured_on": "2024-01-01"},
    ),
    Case("completion", "/v1/projects/{p}/completion", {"on": "2024-01-01"}),
    Case("abandonment", "/v1/projects/{p}/abandonment", {"on": "2024-01-01"}),
    Case(
        "convention",
        "/v1/conventions",
        {
            "title": "Convention",
            "directorate": "{directorate}",
            "signatories": ["{territory}"],
            "themes": ["mobility"],
            "signed_on": "2024-01-01",
        },
    ),
    Case("link", "/v1/conventions/{c}/projects", {"project_id": "{p}"}),
    Case(
        "import",
        "/v1/imports",
        "project_id,instrument,amount,date,duration_months\n{p},loan,1000.00,2024-01-01,12\n",
    ),
]


def send(client: TestClient, case: Case, target: Target, authorization: str | None) -> Any:
    """Send a case's request about a target."""
    headers = {} if authorization is None else {"Authorization": authorization}
    path = target.fill(case.path)
    if isinstance(case.body, str):
        headers["Content-Type"] = "text/csv"
        return client.post(path, content=target.fill(case.body).encode(), headers=headers)
    return client.post(path, json=fill(case.body, target), headers=headers)


def fill(value: Any, target: Target) -> Any:
    """Fill the templates in a JSON body."""
    if isinstance(value, str):
        return target.fill(value)
    if isinstance(value, list):
        return [fill(x, target) for x in value]
    if isinstance(value, dict):
        return {k: fill(v, target) for k, v in value.items()}
    return value


ALLOWED = [("admin", "own"), ("admin", "other"), ("hdf", "own")]
REFUSED = [
    ("auditor", "own", 403),
    ("viewer", "own", 403),
    ("nobody", "own", 401),
    ("revoked", "own", 401),
]


def authorization(who: str, tokens: dict[str, str], revoked: str) -> str | None:
    """The Authorization header of a caller (None for no token)."""
    return {"nobody": None, "revoked": revoked}.get(who, tokens.get(who))


@pytest.mark.parametrize(("who", "target"), ALLOWED)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_admin_anywhere_and_a_directorate_on_its_own_projects_may_write(
    client: TestClient,
    tokens: dict[str, str],
    targets: dict[str, Target],
    revoked: str,
    case: Case,
    who: str,
    target: str,
) -> None:
    response = send(client, case, targets[target], authorization(who, tokens, revoked))

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("who", "target", "status"), REFUSED)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_readers_and_callers_without_a_valid_token_may_not_write(
    client: TestClient,
    tokens: dict[str, str],
    targets: dict[str, Target],
    revoked: str,
    api_ledger: Ledger,
    case: Case,
    who: str,
    target: str,
    status: int,
) -> None:
    head = api_ledger.head_position()

    response = send(client, case, targets[target], authorization(who, tokens, revoked))

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("case", [c for c in CASES if c.name != "import"], ids=str)
def test_a_directorate_may_not_write_for_another_directorate(
    client: TestClient,
    tokens: dict[str, str],
    targets: dict[str, Target],
    api_ledger: Ledger,
    case: Case,
) -> None:
    head = api_ledger.head_position()

    response = send(client, case, targets["other"], tokens["hdf"])

    assert response.status_code == 403
    assert api_ledger.head_position() == head


def test_a_directorate_may_not_import_for_another_directorate(
    client: TestClient, tokens: dict[str, str], targets: dict[str, Target], api_ledger: Ledger
) -> None:
    head = api_ledger.head_position()

    response = send(client, CASES[-1], targets["other"], tokens["hdf"])

    assert response.status_code == 422
    assert "bretagne" in response.json()["rows"][0]["reason"]
    assert api_ledger.head_position() == head


def test_a_directorate_may_not_identify_a_project_outside_its_regions(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger
) -> None:
    head = api_ledger.head_position()

    response = client.post(
        "/v1/projects",
        json={
            "name": "Salle de spectacles de Fougères",
            "territory": "commune:35115",
            "theme": "culture_sport",
            "directorate": "hauts_de_france",
            "identified_on": "2024-01-01",
        },
        headers={"Authorization": tokens["hdf"]},
    )

    assert response.status_code == 403
    assert api_ledger.head_position() == head
