"""Reading a project and its events over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from api.tokens import revoke_token
from domain.application import Ledger
from domain.commands import Disburse, GrantLoan, IdentifyProject
from domain.outcomes import Written
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france", correlation_id="corr-1")


@pytest.fixture
def project(api_ledger: Ledger) -> Written:
    """A project with a loan and a disbursement."""
    written = api_ledger.execute(
        ACTOR,
        IdentifyProject(
            name="BHNS Artois-Gohelle",
            territory="epci:200072460",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2019, 5, 1),
        ),
    )
    loan = api_ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=written.id,
            amount="35000000.00",
            granted_on=date(2019, 6, 1),
            duration_months=240,
        ),
    )
    assert loan.commitment_id is not None
    return api_ledger.execute(
        ACTOR,
        Disburse(
            project_id=written.id,
            commitment_id=loan.commitment_id,
            amount="1000000",
            disbursed_on=date(2020, 1, 6),
        ),
    )


def test_a_project_is_read_with_its_figures_and_version_as_etag(
    client: TestClient, tokens: dict[str, str], project: Written
) -> None:
    response = client.get(f"/v1/projects/{project.id}", headers={"Authorization": tokens["viewer"]})

    body = response.json()
    assert response.status_code == 200
    assert response.headers["etag"] == '"3"'
    assert body["figures"]["committed"] == "35000000.00"
    assert body["figures"]["to_disburse"] == "34000000.00"
    assert body["commitments"][0]["instrument"] == "loan"


def test_a_project_is_read_at_an_earlier_version(
    client: TestClient, tokens: dict[str, str], project: Written
) -> None:
    response = client.get(
        f"/v1/projects/{project.id}?version=2", headers={"Authorization": tokens["viewer"]}
    )

    assert response.json()["figures"]["disbursed"] == "0.00"
    assert response.headers["etag"] == '"2"'


def test_a_project_is_read_as_recorded_at_a_time(
    client: TestClient, tokens: dict[str, str], project: Written, api_ledger: Ledger
) -> None:
    second = api_ledger.project_events(project.id)[1].recorded_at

    response = client.get(
        f"/v1/projects/{project.id}",
        params={"as_at": second.isoformat()},
        headers={"Authorization": tokens["viewer"]},
    )

    assert response.json()["version"] == 2


def test_a_project_s_events_carry_position_time_and_actor(
    client: TestClient, tokens: dict[str, str], project: Written
) -> None:
    response = client.get(
        f"/v1/projects/{project.id}/events", headers={"Authorization": tokens["auditor"]}
    )

    events = response.json()["events"]
    assert [e["type"] for e in events] == ["ProjectIdentified", "LoanGranted", "FundsDisbursed"]
    assert events[-1]["position"] == project.position
    assert events[1]["data"]["amount"] == "35000000.00"
    assert {e["actor"] for e in events} == {"dr-hdf"}
    assert events[0]["correlation_id"] == "corr-1"


def test_a_viewer_may_not_read_events(
    client: TestClient, tokens: dict[str, str], project: Written
) -> None:
    response = client.get(
        f"/v1/projects/{project.id}/events", headers={"Authorization": tokens["viewer"]}
    )

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_an_unknown_project_is_a_404_problem(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get(f"/v1/projects/{uuid4()}", headers={"Authorization": tokens["viewer"]})

    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_a_request_without_a_token_is_refused(client: TestClient, project: Written) -> None:
    response = client.get(f"/v1/projects/{project.id}")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_working_at_once(
    client: TestClient, tokens: dict[str, str], project: Written, api_ledger: Ledger
) -> None:
    revoke_token(api_ledger, "viewer")

    response = client.get(f"/v1/projects/{project.id}", headers={"Authorization": tokens["viewer"]})

    assert response.status_code == 401


def test_health_and_readiness_answer(client: TestClient, project: Written) -> None:
    health = client.get("/healthz")
    ready = client.get("/readyz")

    assert health.json() == {"status": "ok", "position": None}
    assert ready.json()["position"] >= project.position


def test_a_malformed_project_id_is_refused_with_422(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.get("/v1/projects/not-a-uuid", headers={"Authorization": tokens["viewer"]})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "project_id"]


def _stamped(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    """Record the next events as at `at` (the library reads its clock through this)."""
    monkeypatch.setattr("eventsourcing.domain.datetime_now_with_tzinfo", lambda: at)


def test_a_project_as_at_a_date_alone_is_as_recorded_at_the_end_of_that_day_in_paris(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 23:30 in Paris on 31 December, then 00:30 in Paris on 1 January (both 31 Dec in UTC).
    _stamped(monkeypatch, datetime(2024, 12, 31, 22, 30, tzinfo=UTC))
    written = api_ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Tramway",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 12, 1),
        ),
    )
    _stamped(monkeypatch, datetime(2024, 12, 31, 23, 30, tzinfo=UTC))
    api_ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=written.id,
            amount="1000.00",
            granted_on=date(2024, 12, 2),
            duration_months=12,
        ),
    )
    monkeypatch.undo()

    on_the_31st = client.get(
        f"/v1/projects/{written.id}",
        params={"as_at": "2024-12-31"},
        headers={"Authorization": tokens["viewer"]},
    )
    on_the_1st = client.get(
        f"/v1/projects/{written.id}",
        params={"as_at": "2025-01-01"},
        headers={"Authorization": tokens["viewer"]},
    )

    assert on_the_31st.status_code == 200
    assert on_the_31st.json()["version"] == 1
    assert on_the_1st.json()["version"] == 2


def test_a_project_as_at_a_time_without_offset_is_refused(
    client: TestClient, tokens: dict[str, str], project: Written
) -> None:
    response = client.get(
        f"/v1/projects/{project.id}",
        params={"as_at": "2025-01-15T12:00:00"},
        headers={"Authorization": tokens["viewer"]},
    )

    assert response.status_code == 422
    assert "offset" in response.json()["detail"]


def test_projects_are_listed_by_the_instrument_and_period_of_their_commitments(
    client: TestClient,
    tokens: dict[str, str],
    project: Written,
    api_ledger: Ledger,
    read_models: ReadModelDatabase,
) -> None:
    catch_up(api_ledger, read_models)
    auth = {"Authorization": tokens["viewer"]}

    def names(**params: str) -> list[str]:
        response = client.get("/v1/projects", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert names(instrument="loan", **{"from": "2019-06-01", "to": "2019-06-01"}) == [
        "BHNS Artois-Gohelle"
    ]
    assert names(instrument="equity") == []
    # A disbursement's date is not the commitment's: the period holds none.
    assert names(**{"from": "2019-06-02", "to": "2020-12-31"}) == []
    assert names(**{"to": "2019-05-31"}) == []


@pytest.mark.parametrize(
    ("params", "field", "said"),
    [
        ({"instrument": "bond"}, "instrument", "expected one of loan, equity, study"),
        ({"from": "2024-02-01", "to": "2024-01-31"}, "from", "comes after"),
        ({"to": "31/01/2024"}, "to", ""),
    ],
)
def test_a_bad_instrument_or_period_of_projects_is_refused_in_the_query(
    client: TestClient, tokens: dict[str, str], params: dict[str, str], field: str, said: str
) -> None:
    response = client.get(
        "/v1/projects", params=params, headers={"Authorization": tokens["viewer"]}
    )

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", field]
    assert said in response.json()["detail"]


def test_the_projects_instrument_and_period_are_documented(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/projects"]["get"]
    described = {p["name"]: p.get("description", "") for p in operation["parameters"]}

    assert "loan" in described["instrument"]
    assert "effective date" in described["from"]
    assert "effective date" in described["to"]
