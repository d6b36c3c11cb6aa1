"""/v1/projections and /metrics say which projector process leads each read model."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.leaders import SingleProjectorLock
from projections.leadership import Leadership
from projections.registry import READ_MODELS


def metric(text: str, line_start: str) -> float | None:
    """The value of the first metrics line starting so, or None."""
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_sqlite_names_the_one_projector_process_and_has_no_followers(
    client: TestClient, tokens: dict[str, str], read_models: ReadModelDatabase
) -> None:
    viewer = {"Authorization": tokens["viewer"]}
    items = client.get("/v1/projections", headers=viewer).json()["items"]
    assert [(i["leader"], i["followers"]) for i in items] == [(None, None)] * len(READ_MODELS)
    assert read_models.sqlite_file is not None
    lock = SingleProjectorLock(read_models.sqlite_file)
    lock.acquire()
    try:
        items = client.get("/v1/projections", headers=viewer).json()["items"]
        for item in items:
            assert item["leader"]["pid"] == os.getpid()
            assert item["leader"]["host"] == socket.gethostname()
            assert item["leader"]["term"] is None
            assert item["followers"] is None
        text = client.get("/metrics").text
        assert metric(text, 'funding_projector_leader{read_model="totals"}') == 1.0
    finally:
        lock.release()


@pytest.fixture
def pg_app(postgres_url: str) -> Iterator[tuple[TestClient, ReadModelDatabase, dict[str, str]]]:
    schema = f"reporting_{postgres_url.rsplit('schema=', 1)[1]}"
    ledger = Ledger(env=library_env(postgres_url))
    db = ReadModelDatabase.from_url(postgres_url, schema)
    token, _ = create_token(ledger, name="ops", role=Role.ADMIN)
    settings = Settings(database_url=postgres_url, reporting_schema=schema)
    try:
        with TestClient(create_app(settings, ledger, db)) as client:
            yield client, db, {"Authorization": f"Bearer {token}"}
    finally:
        db.close()
        ledger.close()
        with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_postgres_names_the_leader_and_counts_the_followers(
    pg_app: tuple[TestClient, ReadModelDatabase, dict[str, str]], postgres_url: str
) -> None:
    client, db, admin = pg_app
    items = client.get("/v1/projections", headers=admin).json()["items"]
    assert [(i["leader"], i["followers"]) for i in items] == [(None, 0)] * len(READ_MODELS)
    text = client.get("/metrics").text
    assert metric(text, 'funding_projector_leader{read_model="totals"}') == 0.0

    leading = Leadership(db, wait=0.2)
    other = ReadModelDatabase.from_url(postgres_url, db.reporting_schema)
    following = Leadership(other, wait=0.2)
    leading.start()
    try:
        deadline = time.monotonic() + 30
        while not all(leading.leads(name) for name in READ_MODELS):
            assert time.monotonic() < deadline, "no leader"
            threading.Event().wait(0.02)
        following.start()
        while True:
            items = client.get("/v1/projections", headers=admin).json()["items"]
            if all(item["followers"] == 1 for item in items):
                break
            assert time.monotonic() < deadline, "no follower"
            threading.Event().wait(0.02)
        for item in items:
            assert item["leader"]["pid"] == os.getpid()
            assert item["leader"]["host"] == socket.gethostname()
            assert item["leader"]["term"] == 1
            assert item["leader"]["since"]
        text = client.get("/metrics").text
        for name in READ_MODELS:
            assert metric(text, f'funding_projector_leader{{read_model="{name}"}}') == 1.0
            assert metric(text, f'funding_projector_followers{{read_model="{name}"}}') == 1.0
            who = f'host="{socket.gethostname()}",pid="{os.getpid()}",read_model="{name}"'
            since = metric(text, f"funding_projector_leader_since_seconds{{{who}}}")
            assert since is not None
            assert abs(since - time.time()) < 600
    finally:
        following.stop()
        leading.stop()
        other.close()
