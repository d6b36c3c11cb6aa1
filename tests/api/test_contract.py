"""The API against its own OpenAPI document, driven by Schemathesis.

For every operation, Schemathesis sends requests the document allows and requests it does not
(with an admin token, on the demo data): no answer is a server error, and every answer has a
documented status, content type, headers and body.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.problems import PROBLEM
from api.settings import Settings
from api.tokens import create_token
from demo import BASSIN_MINIER_CONVENTION_ID, demo_id, load_demo
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import MEMORY_URL, library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up

Case = schemathesis.Case[Any]
SEED = 2026
# Demo projects whose ids (and their commitments', indicators', territories') the requests use.
AIMED_PROJECTS = 40

# Schemathesis parametrises over the operations when the module is collected, so the document
# is read then, from an app on the in-memory store (its fixture-based loader fails under
# pytest 9); the requests go to the `demo` app, built the same way on the demo data.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(Settings(database_url=MEMORY_URL)),
    config=schemathesis.Config(seed=SEED),
)


@dataclass(frozen=True)
class Demo:
    """The app on the demo data, an admin's headers, and ids of real objects to aim at."""

    app: FastAPI
    headers: dict[str, str]
    targets: list[dict[str, str]]


def _targets(ledger: Ledger) -> list[dict[str, str]]:
    """Path parameters naming real objects together: a project, its commitment, indicator…"""
    targets = []
    for number in range(1, AIMED_PROJECTS + 1):
        project = ledger.project(demo_id("project", number))
        conventions = list(project.conventions) or [BASSIN_MINIER_CONVENTION_ID]
        common = {
            "project_id": str(project.id),
            "convention_id": str(conventions[0]),
            "code": project.territory,
        }
        if project.indicators:
            common["indicator"] = next(iter(project.indicators))
        targets.append(common)
        targets.extend(
            {**common, "commitment_id": str(commitment)} for commitment in project.commitments
        )
    return targets


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The API on a SQLite store holding the demo data, its read models caught up."""
    url = f"sqlite:///{tmp_path_factory.mktemp('contract') / 'ledger.sqlite3'}"
    ledger = Ledger(env=library_env(url))
    read_models = ReadModelDatabase.from_url(url)
    load_demo(ledger)
    catch_up(ledger, read_models)
    token, _ = create_token(ledger, name="admin", role=Role.ADMIN)
    # A min_position not yet reached is refused (503) after this wait: keep it short.
    settings = Settings(database_url=url, read_wait_timeout=0.05)
    yield Demo(
        app=create_app(settings, ledger, read_models),
        headers={"Authorization": f"Bearer {token}"},
        targets=_targets(ledger),
    )
    read_models.close()
    ledger.close()


def aim(case: Case, targets: list[dict[str, str]]) -> None:
    """Point half the cases' ids at real objects: random UUIDs only ever find 404s.

    The generated values choose (by their checksum), so a case is the same on every run.
    """
    path = case.path_parameters or {}
    if not path:
        return
    choice = zlib.crc32(json.dumps(path, sort_keys=True, default=str).encode())
    if choice % 2:
        return
    target = targets[choice // 2 % len(targets)]
    for name in path.keys() & target.keys():
        path[name] = target[name]
    if isinstance(case.body, dict) and "project_id" in case.body:
        case.body["project_id"] = target["project_id"]


def no_server_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> bool | None:
    """No 5xx, but the documented 503 refusing a min_position not reached yet.

    That refusal is told from the store's being down by the position it says was reached.
    """
    if response.status_code == 503 and "min_position" in (case.query or {}):
        reached: Any = response.json().get("position")
        if isinstance(reached, int) and "retry-after" in response.headers:
            return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_matches_the_documented_contract(case: Case, demo: Demo) -> None:
    aim(case, demo.targets)

    case.call_and_validate(app=demo.app, headers=demo.headers, checks=CHECKS)


def test_every_documented_error_is_a_problem() -> None:
    document = create_app(Settings(database_url=MEMORY_URL)).openapi()

    errors = [
        response
        for operations in document["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]

    assert errors
    assert all(list(response["content"]) == [PROBLEM] for response in errors)
    assert "HTTPValidationError" not in document["components"]["schemas"]
