"""`min_position`: beyond the log's head refused at once; a wait holds no worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.sql import Dialect
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")
BEYOND = 99_999_999
# Waits for a position the read models reach only when the test lets them.
WAITING = 100
# Requests for a position beyond the head: 200 of both held every worker thread before.
REFUSED = 100


@dataclass
class Served:
    """A ledger with one project projected, and one more event not projected yet."""

    ledger: Ledger
    read_models: ReadModelDatabase
    url: str
    schema: str
    headers: dict[str, str]
    project_id: str
    projected: int
    unprojected: int

    def app(self, read_wait_timeout: float) -> FastAPI:
        settings = Settings(
            database_url=self.url,
            reporting_schema=self.schema,
            read_wait_timeout=read_wait_timeout,
        )
        return create_app(settings, self.ledger, self.read_models)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'ledger.sqlite3'}", "reporting"
    else:
        url = request.getfixturevalue("postgres_url")
        schema = reporting_schema_for(url)
    ledger = Ledger(env=library_env(url))
    read_models = ReadModelDatabase.from_url(url, schema)
    token, _ = create_token(ledger, name="admin", role=Role.ADMIN)
    project = ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Tramway",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 2),
        ),
    )
    catch_up(ledger, read_models)
    later = ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project.id, amount="1000", granted_on=date(2024, 3, 1), duration_months=60
        ),
    )
    try:
        yield Served(
            ledger,
            read_models,
            url,
            schema,
            {"Authorization": f"Bearer {token}"},
            str(project.id),
            project.position,
            later.position,
        )
    finally:
        read_models.close()
        ledger.close()
        if read_models.dialect is Dialect.POSTGRES:
            drop_reporting_schema(url, schema)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/totals",
        "/v1/totals?format=csv",
        "/v1/projects",
        "/v1/conventions",
        "/v1/territories/region:32",
        "/v1/projects/{project}",
        "/v1/projects/{project}/events",
    ],
)
def test_a_min_position_beyond_the_log_s_head_is_refused_with_the_head(
    served: Served, path: str
) -> None:
    url = path.format(project=served.project_id)
    separator = "&" if "?" in url else "?"

    with TestClient(served.app(read_wait_timeout=0.5)) as client:
        response = client.get(f"{url}{separator}min_position={BEYOND}", headers=served.headers)

    body = response.json()
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert body["head"] == served.unprojected
    assert "beyond the log's head" in body["detail"]


def test_a_min_position_the_read_models_reached_answers_at_once(served: Served) -> None:
    with TestClient(served.app(read_wait_timeout=0.5)) as client:
        response = client.get(
            f"/v1/projects?min_position={served.projected}", headers=served.headers
        )

    assert response.status_code == 200
    assert response.json()["position"] == served.projected


class Entered:
    """Sets an event once `count` requests have entered the app."""

    def __init__(self, app: FastAPI, count: int) -> None:
        self.app = app
        self.count = count
        self.all = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.count -= 1
        if self.count == 0:
            self.all.set()
        await self.app(scope, receive, send)


def test_waiting_reads_hold_no_worker_thread_an_unrelated_read_answers_meanwhile(
    served: Served,
) -> None:
    app = served.app(read_wait_timeout=10)

    async def scenario() -> dict[str, Any]:
        entered = Entered(app, WAITING + REFUSED)
        transport = httpx.ASGITransport(app=entered)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:

            def get(url: str) -> asyncio.Task[httpx.Response]:
                return asyncio.create_task(http.get(url, headers=served.headers))

            waiting = [
                get(f"/v1/{read}?min_position={served.unprojected}")
                for read in ("projects", "totals") * (WAITING // 2)
            ]
            refused = [get(f"/v1/totals?min_position={BEYOND}") for _ in range(REFUSED)]
            await entered.all.wait()
            unrelated = await http.get("/v1/projects", headers=served.headers)
            still_waiting = sum(not task.done() for task in waiting)
            await asyncio.to_thread(catch_up, served.ledger, served.read_models)
            return {
                "unrelated": unrelated,
                "still_waiting": still_waiting,
                "waited": await asyncio.gather(*waiting),
                "refused": await asyncio.gather(*refused),
            }

    try:
        outcome = asyncio.run(scenario())
    finally:
        app.state.live_states.stop()

    assert outcome["unrelated"].status_code == 200
    assert outcome["still_waiting"] == WAITING
    assert {r.status_code for r in outcome["waited"]} == {200}
    assert {r.json()["position"] for r in outcome["waited"]} == {served.unprojected}
    assert {r.status_code for r in outcome["refused"]} == {422}
