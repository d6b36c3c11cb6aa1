"""A store outage: requests answer 503 with Retry-After, store nothing, and the API recovers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env
from projections.db import ReadModelDatabase

PROJECT = {
    "name": "Halle gourmande",
    "territory": "commune:59650",
    "theme": "town_centres",
    "directorate": "hauts_de_france",
    "identified_on": "2024-04-02",
}


class Proxy:
    """A TCP relay to PostgreSQL that can be cut off and restored, like a network outage."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []

    def start(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        for s in [self.listener, *self.sockets]:
            if s is not None:
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
        self.sockets.clear()
        self.listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with suppress(OSError):
            target.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[Proxy]:
    """A relay in front of the test PostgreSQL."""
    parts = urlsplit(postgres_url)
    relay = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture
def client(postgres_url: str, proxy: Proxy) -> Iterator[tuple[TestClient, str, Ledger]]:
    """The API reaching its store through the relay, an admin token, and a direct ledger."""
    parts = urlsplit(postgres_url)
    relayed = postgres_url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    schema = f"reporting_{postgres_url.rsplit('schema=', 1)[1]}"
    direct = Ledger(env=library_env(postgres_url))
    token, _ = create_token(direct, name="ops", role=Role.ADMIN)
    settings = Settings(database_url=relayed, reporting_schema=schema)
    ledger = Ledger(env=library_env(relayed))
    read_models = ReadModelDatabase.from_url(relayed, schema)
    with TestClient(create_app(settings, ledger, read_models)) as test_client:
        yield test_client, f"Bearer {token}", direct
    read_models.close()
    ledger.close()
    direct.close()


def recovered(client: TestClient, attempts: int = 60) -> bool:
    """Ask /readyz until the store answers again (each failing call takes its own time)."""
    return any(client.get("/readyz").status_code == 200 for _ in range(attempts))


@pytest.mark.postgres
@pytest.mark.slow
def test_a_store_outage_answers_503_stores_nothing_and_the_api_recovers(
    client: tuple[TestClient, str, Ledger], proxy: Proxy
) -> None:
    http, token, direct = client
    assert (
        http.post("/v1/projects", json=PROJECT, headers={"Authorization": token}).status_code == 201
    )
    head = direct.head_position()

    proxy.stop()
    ready = http.get("/readyz")
    write = http.post("/v1/projects", json=PROJECT, headers={"Authorization": token})
    proxy.start()

    assert ready.status_code == 503
    assert ready.headers["retry-after"]
    assert ready.headers["content-type"] == "application/problem+json"
    assert write.status_code == 503
    assert direct.head_position() == head
    assert recovered(http)
    again = http.post("/v1/projects", json=PROJECT, headers={"Authorization": token})
    assert again.status_code == 201
    assert direct.head_position() == again.json()["position"]
