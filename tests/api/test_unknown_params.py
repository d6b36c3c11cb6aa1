"""Unknown query parameters: refused with a 422 naming them, on every /v1 route."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from domain.application import Ledger
from domain.commands import IdentifyProject
from domain.values import Actor
from eventstore.settings import MEMORY_URL

PROBLEM = "application/problem+json"
APP = create_app(Settings(database_url=MEMORY_URL))
DOCUMENT = APP.openapi()
# A value of the right shape for each path parameter (a refusal must not be about the path).
PATH_VALUES = {"code": "region:32", "indicator": "jobs", "n": "1"}


def _path(template: str, operation: dict[str, Any]) -> str:
    values = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            values[name] = PATH_VALUES.get(name, str(uuid4()))
    return template.format(**values)


V1_OPERATIONS = [
    (method, path, operation)
    for path, operations in DOCUMENT["paths"].items()
    if path.startswith("/v1/")
    for method, operation in operations.items()
]
V1_GETS = [(path, operation) for method, path, operation in V1_OPERATIONS if method == "get"]


def test_the_document_has_the_reads_the_tests_below_run_over() -> None:
    paths = {path for path, _ in V1_GETS}

    assert {"/v1/totals", "/v1/projects", "/v1/audit/events", "/v1/reference"} <= paths


@pytest.mark.parametrize(("path", "operation"), V1_GETS, ids=[p for p, _ in V1_GETS])
def test_every_v1_read_refuses_an_unknown_query_parameter_naming_it(
    client: TestClient, tokens: dict[str, str], path: str, operation: dict[str, Any]
) -> None:
    url = _path(path, operation)

    response = client.get(
        url, params={"actorr": "someone"}, headers={"Authorization": tokens["admin"]}
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["errors"][0]["loc"] == ["query", "actorr"]
    assert "actorr" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [o for o in V1_OPERATIONS if o[0] != "get"],
    ids=[f"{m} {p}" for m, p, _ in V1_OPERATIONS if m != "get"],
)
def test_every_v1_write_refuses_an_unknown_query_parameter_and_stores_nothing(
    client: TestClient,
    tokens: dict[str, str],
    api_ledger: Ledger,
    method: str,
    path: str,
    operation: dict[str, Any],
) -> None:
    head = api_ledger.head_position()

    response = client.request(
        method.upper(),
        _path(path, operation),
        params={"dryrun": "true"},
        json={},
        headers={"Authorization": tokens["admin"]},
    )

    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"loc": ["query", "dryrun"], "msg": response.json()["errors"][0]["msg"]}
    ]
    assert api_ledger.head_position() == head


@pytest.mark.parametrize(("path", "operation"), V1_GETS, ids=[p for p, _ in V1_GETS])
def test_every_documented_query_parameter_and_min_position_pass_the_check(
    client: TestClient, tokens: dict[str, str], path: str, operation: dict[str, Any]
) -> None:
    documented = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]

    response = client.get(
        _path(path, operation),
        # Values may be refused (422 on the value): never the names.
        params=dict.fromkeys(documented, "1") | {"min_position": "0"},
        headers={"Authorization": tokens["admin"]},
    )

    errors = response.json().get("errors") or []
    unknown = [e for e in errors if e["msg"].startswith("unknown parameter")]
    assert unknown == []


def test_every_unknown_parameter_is_named_once(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get(
        "/v1/audit/events?format=csv&actorr=a&actorr=b&limit=5",
        headers={"Authorization": tokens["admin"]},
    )

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [
        ["query", "format"],
        ["query", "actorr"],
    ]


def test_the_totals_dimension_filters_are_still_accepted_and_a_misspelt_one_refused(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger
) -> None:
    api_ledger.execute(
        Actor(name="seed"),
        IdentifyProject(
            name="Tramway",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 2),
        ),
    )
    headers = {"Authorization": tokens["viewer"]}

    accepted = client.get(
        "/v1/totals",
        params={"group_by": "theme", "theme": "mobility", "territory": "region:32"},
        headers=headers,
    )
    refused = client.get("/v1/totals", params={"themes": "mobility"}, headers=headers)

    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["query", "themes"]


def test_every_v1_operation_documents_the_422(client: TestClient) -> None:
    missing = [
        f"{method} {path}"
        for method, path, operation in V1_OPERATIONS
        if "422" not in operation["responses"]
    ]

    assert missing == []
