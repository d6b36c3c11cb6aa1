"""Possible duplicates: a write repeating a recent one is refused (409) unless confirmed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from domain.application import Ledger
from domain.commands import Disburse, GrantLoan, IdentifyProject
from domain.duplicates import earlier_twin
from domain.errors import PossibleDuplicateError
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from tests.api import test_writes
from tests.api.test_writes import World

world = test_writes.world
LOANS = "/v1/projects/{p}/loans"
DISBURSEMENTS = "/v1/projects/{p}/commitments/{loan}/disbursements"
LOAN = {"amount": "1200000.00", "granted_on": "2024-03-01", "duration_months": 240}
PROJECT = {
    "name": "Médiathèque de Liévin",
    "territory": "commune:62510",
    "theme": "culture_sport",
    "directorate": "hauts_de_france",
    "identified_on": "2024-01-10",
}
DUPLICATE_TYPE = "https://funding-tracker.example/problems/possible-duplicate"
ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")
HALLE = IdentifyProject(
    name="Halle",
    territory="commune:62510",
    theme="culture_sport",
    directorate="hauts_de_france",
    identified_on=date(2024, 1, 10),
)


def test_the_same_loan_posted_twice_is_refused_naming_the_first_and_stores_nothing(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    first = client.post(world.path(LOANS), json=LOAN, headers=auth)
    head = api_ledger.head_position()

    again = client.post(world.path(LOANS), json=LOAN, headers=auth)

    assert first.status_code == 201, first.text
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"
    body = again.json()
    assert body["type"] == DUPLICATE_TYPE
    assert body["earlier"]["commitment_id"] == first.json()["commitment_id"]
    assert body["earlier"]["position"] == first.json()["position"]
    assert body["earlier"]["kind"] == "loan"
    assert "confirm_duplicate=true" in body["detail"]
    assert api_ledger.head_position() == head


def test_a_confirmed_or_keyed_repeat_is_recorded_and_a_different_one_is_not_a_duplicate(
    client: TestClient, tokens: dict[str, str], world: World
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    assert client.post(world.path(LOANS), json=LOAN, headers=auth).status_code == 201

    confirmed = client.post(
        world.path(LOANS), params={"confirm_duplicate": "true"}, json=LOAN, headers=auth
    )
    keyed = client.post(world.path(LOANS), json=LOAN, headers={**auth, "Idempotency-Key": "k-2"})
    other_amount = client.post(
        world.path(LOANS), json={**LOAN, "amount": "1200000.01"}, headers=auth
    )
    other_date = client.post(
        world.path(LOANS), json={**LOAN, "granted_on": "2024-03-02"}, headers=auth
    )

    assert [r.status_code for r in (confirmed, keyed, other_amount, other_date)] == [201] * 4
    ids = {r.json()["commitment_id"] for r in (confirmed, keyed, other_amount, other_date)}
    assert len(ids) == 4


def test_a_repeated_disbursement_is_refused_until_the_first_is_reversed(
    client: TestClient, tokens: dict[str, str], world: World
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    body = {"amount": "500000.00", "disbursed_on": "2024-05-02"}
    first = client.post(world.path(DISBURSEMENTS), json=body, headers=auth)
    refused = client.post(world.path(DISBURSEMENTS), json=body, headers=auth)
    # The loan's first disbursement is the world's; this one is its second.
    reversal = client.post(
        world.path(DISBURSEMENTS) + "/2/reversal", json={"reason": "saisi à tort"}, headers=auth
    )
    after_reversal = client.post(world.path(DISBURSEMENTS), json=body, headers=auth)

    assert first.status_code == 201, first.text
    assert refused.status_code == 409
    assert refused.json()["earlier"]["kind"] == "disbursement"
    assert reversal.status_code == 201, reversal.text
    assert after_reversal.status_code == 201, after_reversal.text


def test_a_loan_repeating_a_voided_one_is_not_a_duplicate(
    client: TestClient, tokens: dict[str, str], world: World
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    first = client.post(world.path(LOANS), json=LOAN, headers=auth).json()["commitment_id"]
    voided = client.post(
        f"/v1/projects/{world.project}/commitments/{first}/voiding",
        json={"reason": "mauvais projet"},
        headers=auth,
    )

    assert voided.status_code == 201, voided.text
    assert client.post(world.path(LOANS), json=LOAN, headers=auth).status_code == 201


def test_a_project_repeating_an_open_project_s_name_is_refused_until_that_one_closes(
    client: TestClient,
    tokens: dict[str, str],
    api_ledger: Ledger,
    read_models: ReadModelDatabase,
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    first = client.post("/v1/projects", json=PROJECT, headers=auth)
    catch_up(api_ledger, read_models)
    head = api_ledger.head_position()
    # Case, accents and spacing aside, the same name.
    typed_again = {**PROJECT, "name": "  MEDIATHEQUE de  liévin "}

    refused = client.post("/v1/projects", json=typed_again, headers=auth)
    elsewhere = client.post(
        "/v1/projects", json={**typed_again, "territory": "commune:62498"}, headers=auth
    )
    abandoned = client.post(
        f"/v1/projects/{first.json()['id']}/abandonment",
        json={"on": "2024-06-01", "reason": "reporté"},
        headers=auth,
    )
    catch_up(api_ledger, read_models)
    after = client.post("/v1/projects", json=typed_again, headers=auth)

    assert first.status_code == 201, first.text
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == DUPLICATE_TYPE
    assert refused.json()["earlier"]["project_id"] == first.json()["id"]
    assert elsewhere.status_code == 201
    assert abandoned.status_code == 201, abandoned.text
    assert after.status_code == 201, after.text
    assert api_ledger.head_position() > head


def test_a_project_renamed_to_an_open_project_s_name_is_found_under_it(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger, read_models: ReadModelDatabase
) -> None:
    auth = {"Authorization": tokens["hdf"]}
    other = client.post("/v1/projects", json={**PROJECT, "name": "Piscine"}, headers=auth)
    renamed = client.post(
        f"/v1/projects/{other.json()['id']}/corrections",
        json={"name": PROJECT["name"], "reason": "nom officiel"},
        headers=auth,
    )
    catch_up(api_ledger, read_models)

    again = client.post("/v1/projects", json=PROJECT, headers=auth)

    assert renamed.status_code == 201, renamed.text
    assert again.status_code == 409
    assert again.json()["earlier"]["project_id"] == other.json()["id"]


def test_a_repeat_older_than_a_day_is_not_a_duplicate(api_ledger: Ledger) -> None:
    project_id = api_ledger.execute(ACTOR, HALLE).id
    grant = GrantLoan(
        project_id=project_id, amount="1000.00", granted_on=date(2024, 3, 1), duration_months=12
    )
    api_ledger.execute(ACTOR, grant)
    stored = list(api_ledger.events.get(project_id, desc=True))
    project = api_ledger.project(project_id)
    replace(grant, commitment_id=uuid4()).apply(project, api_ledger)
    pending = list(project.pending_events)
    now = pending[-1].timestamp

    def aged(hours: float) -> list[object]:
        return [replace(e, timestamp=now - timedelta(hours=hours)) for e in stored]  # type: ignore[type-var]

    assert earlier_twin(project, pending, aged(23.9)) is not None
    assert earlier_twin(project, pending, aged(24.1)) is None


@pytest.mark.parametrize("confirm", [False, True])
def test_the_same_disbursement_twice_in_one_batch_is_reported(
    api_ledger: Ledger, world: World, confirm: bool
) -> None:
    twice = [
        Disburse(
            project_id=world.project,
            commitment_id=world.loan,
            amount="1000.00",
            disbursed_on=date(2024, 2, 1),
        )
    ] * 2

    outcome = api_ledger.execute_batch(ACTOR, twice, confirm_duplicate=confirm)

    if confirm:
        assert outcome.refused == {}
        assert outcome.position is not None
    else:
        assert list(outcome.refused) == [1]
        assert isinstance(outcome.refused[1], PossibleDuplicateError)


def test_an_import_reports_rows_repeating_an_earlier_row_or_a_recent_write(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    auth = {"Authorization": tokens["hdf"], "Content-Type": "text/csv"}
    header = "project_id;instrument;amount;date;duration_months\n"
    row = f"{world.project};loan;250 000,00;01/02/2024;120\n"
    other = f"{world.project};loan;260 000,00;01/02/2024;120\n"
    head = api_ledger.head_position()

    twice = client.post("/v1/imports", content=(header + row + row).encode(), headers=auth)
    confirmed = client.post(
        "/v1/imports",
        params={"confirm_duplicate": "true"},
        content=(header + other + other).encode(),
        headers=auth,
    )
    after = api_ledger.head_position()
    # Another file (other lines, so other commitment ids) repeating a row just recorded.
    again = client.post("/v1/imports", content=(header + row + other).encode(), headers=auth)

    assert twice.status_code == 409, twice.text
    assert twice.json()["type"] == DUPLICATE_TYPE
    assert [r["status"] for r in twice.json()["rows"]] == ["ok", "duplicate"]
    assert "repeats line 2" in twice.json()["rows"][1]["reason"]
    assert twice.json()["duplicates"] == 1
    assert confirmed.status_code == 201, confirmed.text
    assert after > head
    assert again.status_code == 409
    assert [r["status"] for r in again.json()["rows"]] == ["ok", "duplicate"]
    assert api_ledger.head_position() == after


def test_a_twin_is_found_behind_many_other_facts_of_the_day(api_ledger: Ledger) -> None:
    project_id = api_ledger.execute(ACTOR, HALLE).id
    loans = [
        GrantLoan(
            project_id=project_id,
            amount=f"{1000 + n}.00",
            granted_on=date(2024, 3, 1),
            duration_months=12,
        )
        for n in range(120)
    ]
    for loan in loans:
        api_ledger.execute(ACTOR, loan)

    with pytest.raises(PossibleDuplicateError) as refused:
        api_ledger.execute(ACTOR, replace(loans[0], commitment_id=uuid4()))

    assert refused.value.earlier["commitment_id"] == str(loans[0].commitment_id)
