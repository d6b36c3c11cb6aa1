"""Reads through a real streaming replica (FUNDING_READ_DATABASE_URL) of the test PostgreSQL.

The replica is started by the session's `streaming_replica` fixture (pg_basebackup -R, pg_ctl);
the read models are caught up on the primary by the test itself, and reach the replica by WAL
replay. Replay is paused with pg_wal_replay_pause() to keep the replica behind on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.read_source import READ_FROM
from api.settings import Settings
from api.tokens import create_token
from domain.tokens import Role
from projections.feed import catch_up
from projections.registry import READ_MODELS
from tests.integration.conftest import Store
from tests.integration.replica_server import StreamingReplica, free_port, on_port

pytestmark = pytest.mark.postgres

PROJECT = {
    "name": "Médiathèque de Wattrelos",
    "territory": "commune:59650",
    "theme": "culture_sport",
    "directorate": "hauts_de_france",
    "identified_on": "2024-01-10",
}
# Long enough for a replica on a loaded machine: a read answers as soon as it is replayed.
PATIENT = 60.0
# Short, for reads that must give up on a replica kept behind.
IMPATIENT = 0.5


@contextmanager
def served(store: Store, replica: StreamingReplica | int, wait: float) -> Iterator[Client]:
    """The API on the store, reading its read models through the replica (or a port)."""
    port = replica if isinstance(replica, int) else replica.port
    settings = Settings(
        database_url=store.url,
        reporting_schema=store.reporting_schema,
        read_database_url=on_port(store.url, port),
        read_wait_timeout=wait,
    )
    token, _ = create_token(store.ledger, name=f"admin-{wait}", role=Role.ADMIN)
    with TestClient(create_app(settings, store.ledger, store.db)) as test_client:
        yield Client(test_client, {"Authorization": f"Bearer {token}"}, store)


class Client:
    """A test client with an admin token, writing projects and catching the read models up."""

    def __init__(self, client: TestClient, headers: dict[str, str], store: Store) -> None:
        self.client = client
        self.headers = headers
        self.store = store

    def write_project(self, name: str) -> dict[str, Any]:
        """Record a project and apply it to the primary's read models; its write answer."""
        answer = self.client.post(
            "/v1/projects", json={**PROJECT, "name": name}, headers=self.headers
        )
        assert answer.status_code == 201, answer.text
        catch_up(self.store.ledger, self.store.db)
        written: dict[str, Any] = answer.json()
        return written

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)


@pytest.fixture
def replica(streaming_replica: StreamingReplica) -> Iterator[StreamingReplica]:
    """The session's replica, replaying and running again after each test."""
    yield streaming_replica
    if not (streaming_replica.data / "postmaster.pid").exists():
        streaming_replica.start()
    streaming_replica.resume()


def test_a_write_then_a_read_at_its_position_is_answered_by_the_replica(
    pg_store: Store, replica: StreamingReplica
) -> None:
    with served(pg_store, replica, PATIENT) as api:
        written = api.write_project("Médiathèque")
        position = written["position"]

        page = api.get("/v1/projects", min_position=position)
        totals = api.get("/v1/totals", min_position=position, group_by="region")
        territory = api.get("/v1/territories/commune:59650", min_position=position)

    for answer in (page, totals, territory):
        assert answer.status_code == 200, answer.text
        assert answer.headers[READ_FROM] == "replica"
    assert [p["project_id"] for p in page.json()["items"]] == [written["id"]]
    assert page.json()["position"] >= position
    assert totals.json()["total"]["projects"] == 1
    assert territory.json()["totals"]["projects"] == 1


def test_a_replica_kept_behind_leaves_the_read_to_the_primary_after_the_wait(
    pg_store: Store, replica: StreamingReplica
) -> None:
    with served(pg_store, replica, IMPATIENT) as api:
        api.write_project("Avant la pause")
        replica.pause()
        written = api.write_project("Pendant la pause")

        started = time.monotonic()
        page = api.get("/v1/projects", min_position=written["position"], q="pause")
        waited = time.monotonic() - started

    assert page.status_code == 200, page.text
    assert page.headers[READ_FROM] == "primary"
    assert {p["name"] for p in page.json()["items"]} == {"Avant la pause", "Pendant la pause"}
    # It waited for the replica, the whole limit, before reading the primary.
    assert waited >= IMPATIENT


def test_projections_and_metrics_show_the_replica_lag_and_it_catches_up(
    pg_store: Store, replica: StreamingReplica
) -> None:
    with served(pg_store, replica, PATIENT) as api:
        before = api.write_project("Avant la pause")
        replayed = api.get("/v1/projects", min_position=before["position"])
        assert replayed.headers[READ_FROM] == "replica"
        replica.pause()
        behind = [api.write_project(f"Projet {n}") for n in range(3)]

        paused = api.get("/v1/projections").json()
        metrics = api.get("/metrics").text
        replica.resume()
        caught_up = api.get("/v1/projects", min_position=behind[-1]["position"], limit=10)
        streaming = api.get("/v1/projections").json()

    lagging = paused["replica"]
    assert lagging["state"] == "paused"
    assert lagging["lag_bytes"] > 0
    primary = {item["name"]: item["position"] for item in paused["items"]}
    assert {item["name"] for item in lagging["items"]} == set(READ_MODELS)
    for item in lagging["items"]:
        assert before["position"] <= item["position"] < behind[0]["position"]
        assert item["lag_events"] == primary[item["name"]] - item["position"] > 0
    assert "funding_replica_replay_paused 1.0" in metrics
    assert "funding_replica_up 1.0" in metrics
    assert _gauge(metrics, "funding_replica_lag_bytes") > 0
    for name in READ_MODELS:
        position = _gauge(metrics, f'funding_replica_projection_position{{name="{name}"}}')
        assert position < behind[0]["position"]

    assert caught_up.headers[READ_FROM] == "replica"
    assert len(caught_up.json()["items"]) == 4
    assert streaming["replica"]["state"] == "streaming"
    for item in streaming["replica"]["items"]:
        assert item["position"] >= behind[-1]["position"]


def test_a_stopped_replica_leaves_every_read_to_the_primary_and_is_reported_down(
    pg_store: Store, replica: StreamingReplica
) -> None:
    with served(pg_store, replica, PATIENT) as api:
        written = api.write_project("Médiathèque")
        position = written["position"]
        # The replica has answered this process before it stops.
        assert api.get("/v1/projects", min_position=position).headers[READ_FROM] == "replica"
        replica.stop()

        answers = [
            api.get("/v1/projects", min_position=position),
            api.get("/v1/projects"),
            api.get("/v1/totals", group_by="theme", min_position=position),
            api.get("/v1/totals", group_by="directorate", format="csv"),
            api.get("/v1/conventions", min_position=position),
            api.get("/v1/territories/commune:59650"),
        ]
        projections = api.get("/v1/projections")
        metrics = api.get("/metrics")

    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers[READ_FROM] == "primary"
    assert [p["project_id"] for p in answers[0].json()["items"]] == [written["id"]]
    assert projections.status_code == 200
    down = projections.json()["replica"]
    assert down["state"] == "down"
    assert down["error"]
    assert down["items"] == []
    assert metrics.status_code == 200
    assert "funding_replica_up 0.0" in metrics.text


def test_a_replica_that_never_answered_leaves_every_read_to_the_primary(pg_store: Store) -> None:
    with served(pg_store, free_port(), PATIENT) as api:
        written = api.write_project("Médiathèque")
        answers = [
            api.get("/v1/projects", min_position=written["position"]),
            api.get("/v1/totals", group_by="region"),
        ]
        projections = api.get("/v1/projections")

    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers[READ_FROM] == "primary"
    assert answers[1].json()["total"]["projects"] == 1
    assert projections.json()["replica"]["state"] == "down"


def test_a_position_beyond_the_head_is_refused_at_once_with_a_replica(
    pg_store: Store, replica: StreamingReplica
) -> None:
    with served(pg_store, replica, PATIENT) as api:
        written = api.write_project("Médiathèque")
        answer = api.get("/v1/totals", min_position=written["position"] + 1000)

    assert answer.status_code == 422
    assert answer.json()["head"] == written["position"]


def _gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} is not in the metrics")
