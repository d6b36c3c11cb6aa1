"""Convention envelopes: what its projects committed and disbursed, what remains, whether it
is exceeded; the write that exceeds it is recorded and says so (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tokens import create_token
from demo import BASSIN_MINIER_CONVENTION_ID, load_demo
from domain.application import Ledger
from domain.commands import Disburse, GrantLoan, IdentifyProject, LinkToConvention, SignConvention
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")


@dataclass
class Served:
    ledger: Ledger
    read_models: ReadModelDatabase
    client: TestClient
    token: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'ledger.sqlite3'}", ""
    else:
        url = request.getfixturevalue("postgres_url")
        schema = reporting_schema_for(url)
    ledger = Ledger(env=library_env(url))
    read_models = ReadModelDatabase.from_url(url, schema or "reporting")
    settings = Settings(
        database_url=url, read_wait_timeout=2, reporting_schema=schema or "reporting"
    )
    token = create_token(
        ledger, name="dr-hdf", role=Role.DIRECTORATE, directorate="hauts_de_france"
    )[0]
    try:
        with TestClient(create_app(settings, ledger, read_models)) as client:
            yield Served(ledger, read_models, client, f"Bearer {token}")
    finally:
        read_models.close()
        ledger.close()
        if schema:
            drop_reporting_schema(url, schema)


def _project_under(ledger: Ledger, convention: UUID, name: str) -> UUID:
    project = ledger.execute(
        ACTOR,
        IdentifyProject(
            name=name,
            territory="commune:62498",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 10),
        ),
    )
    ledger.execute(ACTOR, LinkToConvention(project_id=project.id, convention_id=convention))
    return project.id


def _loan(served: Served, project: UUID, amount: str) -> dict[str, object]:
    response = served.client.post(
        f"/v1/projects/{project}/loans",
        json={"amount": amount, "granted_on": "2024-03-01", "duration_months": 60},
        headers={"Authorization": served.token},
    )
    assert response.status_code == 201
    answer: dict[str, object] = response.json()
    return answer


def test_the_write_that_exceeds_an_envelope_is_recorded_and_says_so(served: Served) -> None:
    convention = served.ledger.execute(
        ACTOR,
        SignConvention(
            title="Lens mobilités",
            directorate="hauts_de_france",
            signatories=["commune:62498"],
            themes=["mobility"],
            signed_on=date(2023, 1, 1),
            envelope=Decimal("1000000"),
        ),
    ).id
    first = _project_under(served.ledger, convention, "Tramway")
    second = _project_under(served.ledger, convention, "Gare")

    within = _loan(served, first, "600000")
    loan = served.ledger.project(first).commitments
    served.ledger.execute(
        ACTOR,
        Disburse(
            project_id=first,
            commitment_id=next(iter(loan)),
            amount="250000",
            disbursed_on=date(2024, 4, 1),
        ),
    )
    catch_up(served.ledger, served.read_models)
    beyond = _loan(served, second, "500000")
    catch_up(served.ledger, served.read_models)
    shown = served.client.get(
        f"/v1/conventions/{convention}", headers={"Authorization": served.token}
    ).json()

    assert "warnings" not in within
    assert beyond["warnings"] == [
        {
            "code": "over-envelope",
            "convention": str(convention),
            "envelope": "1000000.00",
            "committed": "1100000.00",
            "detail": f"the projects of convention {convention} now commit 1100000.00, "
            "more than its envelope of 1000000.00: recorded",
        }
    ]
    assert len(served.ledger.project(second).commitments) == 1
    assert shown["envelope"] == "1000000.00"
    assert shown["net_committed"] == "1100000.00"
    assert shown["disbursed"] == "250000.00"
    assert shown["remaining"] == "-100000.00"
    assert shown["over_envelope"] is True


def test_a_convention_within_its_envelope_or_without_one_is_not_over_it(served: Served) -> None:
    for title, envelope in (("Avec enveloppe", Decimal("900000")), ("Sans enveloppe", None)):
        convention = served.ledger.execute(
            ACTOR,
            SignConvention(
                title=title,
                directorate="hauts_de_france",
                signatories=["commune:62498"],
                themes=["mobility"],
                signed_on=date(2023, 1, 1),
                envelope=envelope,
            ),
        ).id
        project = _project_under(served.ledger, convention, title)
        served.ledger.execute(
            ACTOR,
            GrantLoan(
                project_id=project,
                amount="800000",
                granted_on=date(2024, 3, 1),
                duration_months=60,
            ),
        )
    catch_up(served.ledger, served.read_models)

    items = served.client.get("/v1/conventions", headers={"Authorization": served.token}).json()
    shown = {c["title"]: (c["remaining"], c["over_envelope"]) for c in items["items"]}
    assert shown == {"Avec enveloppe": ("100000.00", False), "Sans enveloppe": (None, False)}


def test_the_demo_bassin_minier_convention_shows_what_remains_of_its_envelope(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    ledger = Ledger(env=library_env(url))
    read_models = ReadModelDatabase.from_url(url)
    try:
        load_demo(ledger)
        catch_up(ledger, read_models)
        token = create_token(ledger, name="viewer", role=Role.VIEWER)[0]
        with TestClient(create_app(Settings(database_url=url), ledger, read_models)) as client:
            shown = client.get(
                f"/v1/conventions/{BASSIN_MINIER_CONVENTION_ID}",
                headers={"Authorization": f"Bearer {token}"},
            ).json()
        net = sum(
            (
                c.net_committed
                for project in shown["project_ids"]
                for c in ledger.project(UUID(project)).commitments.values()
            ),
            Decimal("0.00"),
        )
    finally:
        read_models.close()
        ledger.close()

    assert shown["envelope"] == "200000000.00"
    assert Decimal(shown["net_committed"]) == net
    assert Decimal(shown["remaining"]) == Decimal("200000000") - net
    assert shown["over_envelope"] is (net > Decimal("200000000"))
