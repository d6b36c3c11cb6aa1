"""Undo routes: a commitment recorded in error voided, refusals stored nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from domain.application import Ledger
from tests.api import test_writes
from tests.api.test_writes import World

# The fixture of the write tests: a project with a disbursed loan, a study, a convention.
world = test_writes.world
VOIDING = "/v1/projects/{p}/commitments/{loan}/voiding"


def test_voiding_a_commitment_removes_it_and_its_movements_from_the_project_s_figures(
    client: TestClient,
    tokens: dict[str, str],
    world: World,
) -> None:
    response = client.post(
        world.path(VOIDING),
        json={"reason": "Saisi deux fois"},
        headers={"Authorization": tokens["hdf"]},
    )

    assert response.status_code == 201, response.text
    assert response.json()["commitment_id"] == str(world.loan)
    read = client.get(f"/v1/projects/{world.project}", headers={"Authorization": tokens["viewer"]})
    assert [c["commitment_id"] for c in read.json()["commitments"]] == [str(world.study)]


def test_voiding_refuses_a_missing_reason_a_second_voiding_and_an_unknown_commitment(
    client: TestClient,
    tokens: dict[str, str],
    world: World,
    api_ledger: Ledger,
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    head = api_ledger.head_position()

    missing = client.post(world.path(VOIDING), json={}, headers=auth)
    blank = client.post(world.path(VOIDING), json={"reason": "  "}, headers=auth)
    unknown = client.post(
        f"/v1/projects/{world.project}/commitments/{world.convention}/voiding",
        json={"reason": "erreur"},
        headers=auth,
    )

    assert (missing.status_code, blank.status_code, unknown.status_code) == (422, 422, 404)
    for refused in (missing, blank, unknown):
        assert refused.headers["content-type"] == "application/problem+json"
    assert api_ledger.head_position() == head
    assert (
        client.post(world.path(VOIDING), json={"reason": "erreur"}, headers=auth).status_code == 201
    )
    again = client.post(world.path(VOIDING), json={"reason": "erreur"}, headers=auth)
    assert again.status_code == 409
    assert "voided" in again.json()["detail"]


def test_reversing_a_disbursement_by_its_number_takes_it_out_of_the_commitment(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    reversal = "/v1/projects/{p}/commitments/{loan}/disbursements/1/reversal"
    head = api_ledger.head_position()

    no_repayment = client.post(
        world.path("/v1/projects/{p}/commitments/{loan}/repayments/1/reversal"),
        json={"reason": "erreur"},
        headers=auth,
    )
    not_a_number = client.post(
        world.path("/v1/projects/{p}/commitments/{loan}/disbursements/one/reversal"),
        json={"reason": "erreur"},
        headers=auth,
    )
    assert (no_repayment.status_code, not_a_number.status_code) == (404, 422)
    assert api_ledger.head_position() == head

    response = client.post(world.path(reversal), json={"reason": "Saisi deux fois"}, headers=auth)

    assert response.status_code == 201, response.text
    read = client.get(f"/v1/projects/{world.project}", headers={"Authorization": tokens["viewer"]})
    loan = next(c for c in read.json()["commitments"] if c["commitment_id"] == str(world.loan))
    assert loan["disbursed"] == "0.00"
    again = client.post(world.path(reversal), json={"reason": "encore"}, headers=auth)
    assert again.status_code == 409


def test_a_project_with_money_committed_is_not_voided_until_its_commitments_are(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    voiding = f"/v1/projects/{world.project}/voiding"
    head = api_ledger.head_position()

    refused = client.post(voiding, json={"reason": "Saisi deux fois"}, headers=auth)

    assert refused.status_code == 409
    assert api_ledger.head_position() == head
    for commitment in (world.loan, world.study):
        path = f"/v1/projects/{world.project}/commitments/{commitment}/voiding"
        assert client.post(path, json={"reason": "r"}, headers=auth).status_code == 201
    voided = client.post(voiding, json={"reason": "Saisi deux fois"}, headers=auth)
    assert voided.status_code == 201, voided.text
    read = client.get(f"/v1/projects/{world.project}", headers={"Authorization": tokens["viewer"]})
    assert read.json()["status"] == "voided"
    after = client.post(
        f"/v1/projects/{world.project}/completion", json={"on": "2025-01-01"}, headers=auth
    )
    assert after.status_code == 409


def test_a_commitment_date_correction_is_seen_on_the_commitment(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    path = world.path("/v1/projects/{p}/commitments/{study}/date-corrections")
    head = api_ledger.head_position()

    late = client.post(path, json={"on": "2030-01-01"}, headers=auth)
    assert late.status_code == 422  # no reason
    assert api_ledger.head_position() == head

    response = client.post(
        path, json={"on": "2019-08-01", "reason": "Date du bon de commande"}, headers=auth
    )

    assert response.status_code == 201, response.text
    read = client.get(f"/v1/projects/{world.project}", headers={"Authorization": tokens["viewer"]})
    study = next(c for c in read.json()["commitments"] if c["commitment_id"] == str(world.study))
    assert study["committed_on"] == "2019-08-01"
