"""An unknown code is refused with what was most likely meant, and the valid codes if few."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.suggestions import territory_suggestions, vocabulary_suggestions
from domain.reference import THEMES


def _refusal(client: TestClient, token: str, path: str, **params: str) -> dict[str, Any]:
    response = client.get(path, params=params, headers={"Authorization": token})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_a_bare_insee_code_suggests_the_commune_by_name(
    client: TestClient, tokens: dict[str, str]
) -> None:
    body = _refusal(client, tokens["viewer"], "/v1/totals", territory="62498")

    assert body["suggestions"] == ["commune:62498 (Lens)"]
    assert "did you mean commune:62498 (Lens)?" in body["detail"]


def test_a_bare_siren_code_suggests_the_epci() -> None:
    assert territory_suggestions("246200364") == ["epci:246200364 (CA de Lens - Liévin)"]


def test_a_code_at_the_wrong_level_suggests_its_level() -> None:
    assert territory_suggestions("region:62") == ["departement:62 (Pas-de-Calais)"]


def test_a_territory_name_suggests_its_code(client: TestClient, tokens: dict[str, str]) -> None:
    body = _refusal(client, tokens["viewer"], "/v1/projects", territory="Wattrelos")

    assert body["suggestions"][0] == "commune:59650 (Wattrelos)"


def test_a_french_label_suggests_the_theme_code_and_lists_the_themes(
    client: TestClient, tokens: dict[str, str]
) -> None:
    accented = _refusal(client, tokens["viewer"], "/v1/totals", theme="Mobilité")
    bare = _refusal(client, tokens["viewer"], "/v1/projects", theme="Mobilite")

    assert accented["suggestions"] == bare["suggestions"] == ["mobility"]
    assert accented["valid_codes"] == list(THEMES)
    assert accented["errors"][0]["msg"].endswith("did you mean mobility?")


def test_a_close_spelling_suggests_the_code() -> None:
    assert vocabulary_suggestions("theme", "mobilty") == ["mobility"]
    assert vocabulary_suggestions("programme", "coeur de ville") == ["action_coeur_de_ville"]
    assert vocabulary_suggestions("instrument", "pret") == ["loan"]
    assert vocabulary_suggestions("directorate", "hauts de france") == ["hauts_de_france"]


def test_a_code_like_nothing_lists_the_valid_codes(
    client: TestClient, tokens: dict[str, str]
) -> None:
    body = _refusal(client, tokens["viewer"], "/v1/totals", instrument="zzz")

    assert body["suggestions"] == []
    assert body["valid_codes"] == ["loan", "equity", "study"]
    assert "expected one of loan, equity, study" in body["detail"]


def test_a_write_with_an_unknown_theme_is_refused_with_suggestions(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.post(
        "/v1/projects",
        json={
            "name": "Tramway",
            "territory": "62498",
            "theme": "Mobilité",
            "directorate": "hauts_de_france",
            "identified_on": "2024-01-10",
        },
        headers={"Authorization": tokens["hdf"]},
    )

    body = response.json()
    assert response.status_code == 422
    assert body["suggestions"]
    assert (
        client.get("/v1/projects", headers={"Authorization": tokens["viewer"]}).json()["items"]
        == []
    )
