"""Totals rows carry the label of each dimension they group by, in JSON and in CSV."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject, LinkToConvention, SignConvention
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")


@pytest.fixture
def labelled(api_ledger: Ledger, read_models: ReadModelDatabase) -> str:
    """A project of Lens under a convention, with a loan; returns the convention id."""
    convention = api_ledger.execute(
        ACTOR,
        SignConvention(
            title="Bassin minier",
            directorate="hauts_de_france",
            signatories=["region:32"],
            themes=["mobility"],
            signed_on=date(2023, 1, 1),
            envelope=Decimal("1000000"),
        ),
    )
    project = api_ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Tramway",
            territory="commune:62498",
            theme="mobility",
            programme="action_coeur_de_ville",
            directorate="hauts_de_france",
            identified_on=date(2023, 1, 10),
        ),
    )
    api_ledger.execute(ACTOR, LinkToConvention(project_id=project.id, convention_id=convention.id))
    api_ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project.id, amount="500000", granted_on=date(2024, 3, 1), duration_months=60
        ),
    )
    catch_up(api_ledger, read_models)
    return str(convention.id)


def test_a_totals_row_carries_the_label_of_each_dimension_it_groups_by(
    client: TestClient, tokens: dict[str, str], labelled: str
) -> None:
    response = client.get(
        "/v1/totals",
        params={
            "group_by": "region,departement,commune,theme,programme,instrument,directorate,"
            "convention,year"
        },
        headers={"Authorization": tokens["viewer"]},
    )

    loan = next(r for r in response.json()["rows"] if r["instrument"] == "loan")
    assert loan["region"] == "region:32"
    assert loan["region_label"] == "Hauts-de-France"
    assert loan["departement_label"] == "Pas-de-Calais"
    assert loan["commune_label"] == "Lens"
    assert loan["theme_label"] == "Mobilité"
    assert loan["programme_label"] == "Action Cœur de Ville"
    assert loan["instrument_label"] == "Prêt"
    assert loan["directorate_label"] == "Direction régionale Hauts-de-France"
    assert loan["convention"] == labelled
    assert loan["convention_label"] == "Bassin minier"
    assert "year_label" not in loan
    assert loan["committed"] == "500000.00"


def test_a_null_dimension_has_a_null_label(
    client: TestClient, tokens: dict[str, str], labelled: str
) -> None:
    response = client.get(
        "/v1/totals", params={"group_by": "instrument"}, headers={"Authorization": tokens["viewer"]}
    )

    # The identification row has no instrument.
    labels = {r["instrument"]: r["instrument_label"] for r in response.json()["rows"]}
    assert labels == {None: None, "loan": "Prêt"}


def test_a_totals_csv_has_a_label_column_beside_each_code_column(
    client: TestClient, tokens: dict[str, str], labelled: str
) -> None:
    response = client.get(
        "/v1/totals",
        params={"group_by": "region,theme,year", "format": "csv", "sep": ";"},
        headers={"Authorization": tokens["viewer"]},
    )

    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("region;region_label;theme;theme_label;year;committed;")
    assert lines[1].startswith("region:32;Hauts-de-France;mobility;Mobilité;2023;0,00;")
    assert lines[-1].startswith("total;;;;;500000,00;")


def test_listed_territories_carry_their_totals_and_those_below_them(
    client: TestClient, tokens: dict[str, str], labelled: str
) -> None:
    lens, hdf = (
        client.get(
            "/v1/territories",
            params={"q": q, "level": level},
            headers={"Authorization": tokens["viewer"]},
        ).json()["items"][0]
        for level, q in (("commune", "62498"), ("region", "Hauts-de-France"))
    )

    assert (lens["code"], lens["totals"]["committed"]) == ("commune:62498", "500000.00")
    assert (hdf["code"], hdf["totals"]["committed"]) == ("region:32", "500000.00")
    assert hdf["totals"]["projects"] == 1
    assert hdf["position"] == lens["position"] > 0


def test_a_territory_without_projects_has_zero_totals(
    client: TestClient, tokens: dict[str, str], labelled: str
) -> None:
    items = client.get(
        "/v1/territories",
        params={"q": "Corse", "level": "region"},
        headers={"Authorization": tokens["viewer"]},
    ).json()["items"]

    assert items[0]["code"] == "region:94"
    assert items[0]["totals"]["committed"] == "0.00"
    assert items[0]["totals"]["projects"] == 0
