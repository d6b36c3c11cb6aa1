"""/docs served offline under a strict Content-Security-Policy; the OpenAPI document it shows
declares the bearer scheme and every query parameter the routes accept."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_principal
from api.docs_page import ASSETS
from api.query_params import accepted_query, declared_query
from api.routes import asat, audit, health, imports, projects, proofs, reads, writes
from api.settings import Settings
from eventstore.settings import MEMORY_URL
from projections import reading

APP = create_app(Settings(database_url=MEMORY_URL))
DOCUMENT = APP.openapi()
ROUTES = [
    route
    for router in (health, projects, reads, audit, asat, proofs, writes, imports)
    for route in router.router.routes
    if isinstance(route, APIRoute)
]
OPERATIONS = [(route, method) for route in ROUTES for method in sorted(route.methods or ())]


def _operation(route: APIRoute, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = DOCUMENT["paths"][route.path_format][method.lower()]
    return operation


def _documented_query(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


def _authenticates(dependant: Dependant) -> bool:
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call is get_principal:
            return True
        pending.extend(current.dependencies)
    return False


@pytest.fixture(scope="module")
def docs_client() -> TestClient:
    return TestClient(APP)


def test_docs_is_a_page_whose_scripts_and_styles_all_come_from_this_server(
    docs_client: TestClient,
) -> None:
    response = docs_client.get("/docs")

    assert response.status_code == 200
    page = response.text
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts
    assert all('src="/docs/static/' in attributes for attributes in scripts)
    assert "<style" not in page
    assert " style=" not in page
    assert "http" not in page.replace("http-equiv", "")


def test_docs_sends_a_policy_refusing_inline_scripts_and_other_origins(
    docs_client: TestClient,
) -> None:
    policy = docs_client.get("/docs").headers["content-security-policy"]

    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_each_docs_file_is_served_from_the_installed_packages(
    docs_client: TestClient, name: str
) -> None:
    response = docs_client.get(f"/docs/static/{name}")

    assert response.status_code == 200
    assert response.content == ASSETS[name].read_bytes()
    assert len(response.content) > 100


def test_no_other_file_is_served_beside_them(docs_client: TestClient) -> None:
    for name in ("redoc.standalone.js", "..%2F..%2Fapp.py", "swagger-ui.js"):
        assert docs_client.get(f"/docs/static/{name}").status_code == 404


def test_redoc_is_not_served(docs_client: TestClient) -> None:
    assert docs_client.get("/redoc").status_code == 404


def test_the_document_declares_the_bearer_scheme() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]

    assert schemes == {"bearer": {"type": "http", "scheme": "bearer", "description": ANY_TEXT}}


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = _AnyText()


@pytest.mark.parametrize(
    ("route", "method"), OPERATIONS, ids=[f"{m} {r.path}" for r, m in OPERATIONS]
)
def test_an_operation_needs_the_bearer_scheme_exactly_when_it_authenticates(
    route: APIRoute, method: str
) -> None:
    operation = _operation(route, method)

    expected: list[dict[str, list[str]]] | None = (
        [{"bearer": []}] if _authenticates(route.dependant) else None
    )
    assert operation.get("security") == expected


def test_the_reads_and_writes_authenticate() -> None:
    authenticated = {r.path for r in ROUTES if _authenticates(r.dependant)}

    assert {"/v1/totals", "/v1/projects", "/v1/audit/events"} <= authenticated
    assert "/healthz" not in authenticated


def test_the_document_lists_every_query_parameter_totals_accepts_described() -> None:
    route = next(r for r in ROUTES if r.path == "/v1/totals")

    documented = _documented_query(_operation(route, "GET"))

    assert set(documented) == accepted_query(route)
    assert {reading.TERRITORY_FILTER, *reading.DIMENSIONS} <= set(documented)
    assert all(parameter.get("description") for parameter in documented.values())


@pytest.mark.parametrize(
    ("route", "method"), OPERATIONS, ids=[f"{m} {r.path}" for r, m in OPERATIONS]
)
def test_the_document_lists_the_query_parameters_each_route_declares(
    route: APIRoute, method: str
) -> None:
    documented = _documented_query(_operation(route, method))

    assert set(documented) == declared_query(route.dependant)
