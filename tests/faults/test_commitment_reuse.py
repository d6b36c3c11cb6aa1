"""A commitment id of another project is refused; the read models keep agreeing with the log."""

from __future__ import annotations

import os
import subprocess
from decimal import Decimal
from uuid import UUID

import httpx
import pytest

from domain.tokens import Role
from tests.faults.conftest import FUNDING, Server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LENS = {
    "name": "Gare de Lens",
    "territory": "commune:62498",
    "theme": "mobility",
    "directorate": "hauts_de_france",
    "identified_on": "2024-01-02",
}
PARIS = {
    "name": "Médiathèque",
    "territory": "commune:75056",
    "theme": "culture_sport",
    "directorate": "ile_de_france",
    "identified_on": "2024-01-02",
}


def _committed_by_project(server: Server, project_ids: list[str]) -> dict[str, Decimal]:
    """Each project's committed amount, recomputed from its events."""
    return {
        p: sum(
            (c.amount for c in server.ledger.project(UUID(p)).commitments.values()),
            Decimal(0),
        )
        for p in project_ids
    }


def _projected(http: httpx.Client, project_id: str, position: int) -> Decimal:
    """A project's committed amount in the read models (the project list and the totals)."""
    listed = http.get("/v1/projects", params={"min_position": position, "limit": 100})
    assert listed.status_code == 200, listed.text
    (row,) = [p for p in listed.json()["items"] if p["project_id"] == project_id]
    return Decimal(row["committed"])


def test_a_commitment_id_of_another_project_is_refused_and_figures_stay_true(
    server: Server,
) -> None:
    paris = server.token("dr-idf", Role.DIRECTORATE, "ile_de_france")
    with server.client() as http:
        lens = http.post("/v1/projects", json=LENS).json()["id"]
        loan = http.post(
            f"/v1/projects/{lens}/loans",
            json={"amount": "322865621.00", "granted_on": "2024-05-01", "duration_months": 240},
        ).json()
        own = http.post("/v1/projects", json=PARIS, headers=paris).json()["id"]

        reuse = http.post(
            f"/v1/projects/{own}/studies",
            json={
                "amount": "2179000.00",
                "launched_on": "2024-06-01",
                "subject": "Étude",
                "commitment_id": loan["commitment_id"],
            },
            headers=paris,
        )
        study = http.post(
            f"/v1/projects/{own}/studies",
            json={"amount": "2179000.00", "launched_on": "2024-06-01", "subject": "Étude"},
            headers=paris,
        )
        head = server.ledger.head_position()
        live = {p: _projected(http, p, head) for p in (lens, own)}

    assert reuse.status_code == 409, reuse.text
    assert reuse.headers["content-type"] == "application/problem+json"
    assert lens in reuse.json()["detail"]
    assert study.status_code == 201
    expected = _committed_by_project(server, [lens, own])
    assert expected == {lens: Decimal("322865621.00"), own: Decimal("2179000.00")}
    assert live == expected

    rebuilt = subprocess.run(  # noqa: S603 - our own console script
        [FUNDING, "rebuild"],
        env={
            **os.environ,
            "FUNDING_DATABASE_URL": server.store_url,
            "FUNDING_REPORTING_SCHEMA": server.reporting_schema,
        },
        capture_output=True,
        check=False,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr.decode()
    with server.client() as http:
        assert {p: _projected(http, p, head) for p in (lens, own)} == expected
