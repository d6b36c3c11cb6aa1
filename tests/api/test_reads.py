"""Reads of the read models over HTTP: totals, projects, conventions, territories, status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from domain.application import Ledger
from domain.commands import Disburse, GrantLoan, IdentifyProject, LaunchStudy
from domain.outcomes import Written
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")


@pytest.fixture
def funded(api_ledger: Ledger, read_models: ReadModelDatabase) -> list[Written]:
    """Three projects of Hauts-de-France with loans and a study, projected."""
    written = []
    for i, (territory, theme) in enumerate(
        [
            ("commune:59650", "mobility"),
            ("commune:59632", "tourism"),
            ("departement:62", "housing_renovation"),
        ]
    ):
        project = api_ledger.execute(
            ACTOR,
            IdentifyProject(
                name=f"Projet {i}",
                territory=territory,
                theme=theme,
                directorate="hauts_de_france",
                identified_on=date(2023, 1, 10),
                estimated_cost="3000000",
            ),
        )
        written.append(
            api_ledger.execute(
                ACTOR,
                GrantLoan(
                    project_id=project.id,
                    amount="1000000.50",
                    granted_on=date(2024, 3, 1),
                    duration_months=120,
                ),
            )
        )
    written.append(
        api_ledger.execute(
            ACTOR,
            LaunchStudy(
                project_id=written[0].id,
                amount="45000",
                launched_on=date(2025, 6, 2),
                subject="Étude",
            ),
        )
    )
    catch_up(api_ledger, read_models)
    return written


def test_totals_group_by_dimensions_and_sum_to_the_grand_total(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = client.get(
        "/v1/totals",
        params={"group_by": "year,instrument"},
        headers={"Authorization": tokens["viewer"]},
    )

    body = response.json()
    committed = {(r["year"], r["instrument"]): r["committed"] for r in body["rows"]}
    assert response.status_code == 200
    assert committed[(2024, "loan")] == "3000001.50"
    assert committed[(2025, "study")] == "45000.00"
    assert body["total"]["committed"] == "3045001.50"
    assert body["total"]["projects"] == 3
    assert body["position"] == funded[-1].position


def test_a_territory_filter_includes_everything_below_it(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = client.get(
        "/v1/totals",
        params={"group_by": "commune", "territory": "departement:59"},
        headers={"Authorization": tokens["viewer"]},
    )

    rows = response.json()["rows"]
    assert {r["commune"] for r in rows} == {"commune:59650", "commune:59632"}


def test_totals_refuse_an_unknown_dimension(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get(
        "/v1/totals", params={"group_by": "galaxy"}, headers={"Authorization": tokens["viewer"]}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "galaxy" in response.json()["detail"]


def test_totals_as_csv_start_with_a_bom(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = client.get(
        "/v1/totals",
        params={"group_by": "instrument", "format": "csv"},
        headers={"Authorization": tokens["viewer"]},
    )

    lines = response.content.decode("utf-8").splitlines()
    assert response.content.startswith("\ufeff".encode())
    assert response.headers["content-type"].startswith("text/csv")
    assert lines[0].lstrip("\ufeff").startswith("instrument,instrument_label,committed,cancelled")
    assert "loan,Prêt,3000001.50," in lines[1] + lines[2]


def test_totals_as_csv_for_french_spreadsheets_use_semicolons_and_decimal_commas(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = client.get(
        "/v1/totals",
        params={"format": "csv", "sep": ";"},
        headers={"Authorization": tokens["viewer"]},
    )

    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("committed;cancelled;net_committed")
    assert lines[1].startswith("3045001,50;0,00;3045001,50")


def test_a_read_waits_for_a_position_the_read_models_have_not_reached(
    client: TestClient, tokens: dict[str, str], funded: list[Written], api_ledger: Ledger
) -> None:
    later = api_ledger.execute(
        ACTOR,
        Disburse(
            project_id=funded[0].id,
            commitment_id=_commitment(funded[0]),
            amount="100",
            disbursed_on=date(2024, 5, 1),
        ),
    )

    response = client.get(
        "/v1/totals",
        params={"min_position": later.position},
        headers={"Authorization": tokens["viewer"]},
    )

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["position"] == funded[-1].position


@pytest.fixture
def two_rows_client(
    api_url: str, api_ledger: Ledger, read_models: ReadModelDatabase
) -> Iterator[TestClient]:
    """The API answering totals of two rows at most."""
    settings = Settings(database_url=api_url, totals_max_rows=2)
    with TestClient(create_app(settings, api_ledger, read_models)) as test_client:
        yield test_client


@pytest.mark.parametrize("output", ["json", "csv"])
def test_totals_of_more_rows_than_the_limit_are_refused_naming_it_and_a_narrower_question(
    two_rows_client: TestClient, tokens: dict[str, str], funded: list[Written], output: str
) -> None:
    response = two_rows_client.get(
        "/v1/totals",
        params={"group_by": "commune", "format": output},
        headers={"Authorization": tokens["viewer"]},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "more than 2 rows" in detail
    assert "fewer group_by dimensions" in detail
    assert "territory=" in detail


def test_totals_within_the_row_limit_are_answered_with_their_grand_total(
    two_rows_client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = two_rows_client.get(
        "/v1/totals",
        params={"group_by": "commune", "territory": "departement:59"},
        headers={"Authorization": tokens["viewer"]},
    )

    body = response.json()
    assert response.status_code == 200
    assert [row["commune"] for row in body["rows"]] == ["commune:59632", "commune:59650"]
    assert body["total"]["committed"] == "2045001.00"


def test_the_totals_row_limit_is_told_in_the_openapi_description(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/totals"]["get"]

    assert "10,000" in operation["description"]
    assert "narrow the question" in operation["responses"]["422"]["description"]


def test_a_read_at_a_reached_position_answers_at_once(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = client.get(
        "/v1/totals",
        params={"min_position": funded[-1].position},
        headers={"Authorization": tokens["viewer"]},
    )

    assert response.status_code == 200


def test_projects_are_listed_a_page_at_a_time(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    headers = {"Authorization": tokens["viewer"]}

    first = client.get("/v1/projects", params={"limit": 2}, headers=headers).json()
    second = client.get(
        "/v1/projects", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()

    names = [p["name"] for p in first["items"] + second["items"]]
    assert names == ["Projet 0", "Projet 1", "Projet 2"]
    assert second["next_cursor"] is None
    assert first["items"][0]["committed"] == "1045000.50"


def test_projects_are_filtered_by_theme(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = client.get(
        "/v1/projects", params={"theme": "tourism"}, headers={"Authorization": tokens["viewer"]}
    )

    assert [p["name"] for p in response.json()["items"]] == ["Projet 1"]


def test_a_territory_answers_with_its_totals(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = client.get(
        "/v1/territories/commune:59650", headers={"Authorization": tokens["viewer"]}
    )

    body = response.json()
    assert body["name"] == "Wattrelos"
    assert body["band"] == "medium"
    assert body["totals"]["committed"] == "1045000.50"


def test_an_unknown_territory_is_refused_naming_the_code(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.get(
        "/v1/territories/commune:99999", headers={"Authorization": tokens["viewer"]}
    )

    assert response.status_code == 422
    assert "commune:99999" in response.json()["detail"]


def test_territories_are_searched_by_name(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get(
        "/v1/territories",
        params={"q": "wattrelos", "level": "commune"},
        headers={"Authorization": tokens["viewer"]},
    )

    assert [t["code"] for t in response.json()["items"]] == ["commune:59650"]


def test_the_reference_has_french_labels(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get("/v1/reference", headers={"Authorization": tokens["viewer"]})

    body = response.json()
    assert {"code": "mobility", "label": "Mobilité"} in body["themes"]
    assert len(body["directorates"]) == 16


def test_the_projections_report_their_lag(
    client: TestClient, tokens: dict[str, str], funded: list[Written], api_ledger: Ledger
) -> None:
    api_ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Pas encore projeté",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 1),
        ),
    )

    response = client.get("/v1/projections", headers={"Authorization": tokens["viewer"]})

    items = {i["name"]: i for i in response.json()["items"]}
    assert items["totals"]["lag_events"] == 1
    assert items["totals"]["state"] == "live"
    assert items["projects"]["head"] == api_ledger.head_position()


def test_a_repeated_totals_query_reflects_events_projected_in_between(
    client: TestClient,
    tokens: dict[str, str],
    funded: list[Written],
    api_ledger: Ledger,
    read_models: ReadModelDatabase,
) -> None:
    headers = {"Authorization": tokens["viewer"]}
    before = client.get("/v1/totals", headers=headers).json()
    api_ledger.execute(
        ACTOR,
        Disburse(
            project_id=funded[0].id,
            commitment_id=_commitment(funded[0]),
            amount="250.00",
            disbursed_on=date(2024, 5, 1),
        ),
    )
    catch_up(api_ledger, read_models)

    after = client.get("/v1/totals", headers=headers).json()

    assert before["total"]["disbursed"] == "0.00"
    assert after["total"]["disbursed"] == "250.00"
    assert after["position"] == before["position"] + 1


def test_totals_up_to_the_last_representable_day_answer_everything(
    client: TestClient, tokens: dict[str, str], funded: list[Written]
) -> None:
    response = client.get(
        "/v1/totals", params={"to": "9999-12-31"}, headers={"Authorization": tokens["viewer"]}
    )

    assert response.status_code == 200
    assert response.json()["total"]["committed"] == "3045001.50"


def _commitment(written: Written) -> UUID:
    assert written.commitment_id is not None
    return written.commitment_id
