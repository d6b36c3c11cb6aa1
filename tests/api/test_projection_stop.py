"""A stopped read model shows: /v1/projections names the event, /readyz is not ready, /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.tokens import Role
from projections.db import ReadModelDatabase
from projections.projector import Projector
from projections.registry import READ_MODELS
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for
from tests.projections.test_unappliable import Reuse, identify, reuse_a_commitment_id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty event store: SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def read_db(store_url: str) -> Iterator[ReadModelDatabase]:
    """The read models beside the `ledger` fixture's events."""
    schema = reporting_schema_for(store_url)
    db = ReadModelDatabase.from_url(store_url, reporting_schema=schema)
    try:
        yield db
    finally:
        db.close()
        if store_url.startswith("postgresql"):
            drop_reporting_schema(store_url, schema)


@pytest.fixture
def client(store_url: str, ledger: Ledger, read_db: ReadModelDatabase) -> Iterator[TestClient]:
    """The API on that store (its projector is stepped by the tests)."""
    settings = Settings(database_url=store_url, reporting_schema=reporting_schema_for(store_url))
    with TestClient(create_app(settings, ledger, read_db)) as test_client:
        yield test_client


@pytest.fixture
def viewer(ledger: Ledger) -> dict[str, str]:
    """A viewer's Authorization header."""
    return {"Authorization": f"Bearer {create_token(ledger, name='v', role=Role.VIEWER)[0]}"}


@pytest.fixture
def reuse(ledger: Ledger, read_db: ReadModelDatabase) -> Reuse:
    """A commitment id reused on another project, met by the projector."""
    reused = reuse_a_commitment_id(ledger)
    Projector(ledger, read_db, listen=False).step()
    return reused


def test_the_projections_name_the_event_a_stopped_read_model_cannot_apply(
    client: TestClient, viewer: dict[str, str], reuse: Reuse
) -> None:
    response = client.get("/v1/projections", headers=viewer)

    assert response.status_code == 200
    items = {item["name"]: item for item in response.json()["items"]}
    for name in READ_MODELS:
        assert items[name]["state"] == "stopped"
        assert items[name]["position"] == reuse.position - 1
        assert items[name]["error"]["position"] == reuse.position
        assert str(reuse.commitment_id) in items[name]["error"]["reason"]


def test_readiness_is_refused_naming_the_stopped_read_models(
    client: TestClient, reuse: Reuse
) -> None:
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {s["read_model"] for s in body["stopped"]} == set(READ_MODELS)
    assert all(s["position"] == reuse.position for s in body["stopped"])
    assert "read model totals stopped" in body["detail"]
    assert f"log position {reuse.position}" in body["detail"]


def test_the_metrics_flag_a_stopped_read_model(client: TestClient, reuse: Reuse) -> None:
    text = client.get("/metrics").text

    assert reuse.position > 0
    assert 'funding_projection_stopped{name="totals"} 1.0' in text
    assert 'funding_projection_stopped{name="projects"} 1.0' in text


def test_read_models_that_apply_every_event_are_live_and_ready(
    client: TestClient, viewer: dict[str, str], ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    identify(ledger, "Gare")
    Projector(ledger, read_db, listen=False).step()

    items = client.get("/v1/projections", headers=viewer).json()["items"]
    ready = client.get("/readyz")
    text = client.get("/metrics").text

    assert [(item["state"], item["error"]) for item in items] == [("live", None)] * 2
    assert ready.status_code == 200
    assert 'funding_projection_stopped{name="totals"} 0.0' in text
