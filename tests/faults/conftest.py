"""Fault fixtures: a real `funding serve` process reaching PostgreSQL through a relay."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from api.tokens import create_token
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env
from tests.faults.relay import Relay

FUNDING = str(Path(sys.executable).with_name("funding"))


@dataclass
class Server:
    """A running API server, the relay in front of its store, and a direct view of the store."""

    url: str
    relay: Relay
    ledger: Ledger  # direct: not through the relay
    admin: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    store_url: str
    reporting_schema: str

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.admin, timeout=timeout)

    def token(self, name: str, role: Role, directorate: str | None = None) -> dict[str, str]:
        token, _ = create_token(self.ledger, name=name, role=role, directorate=directorate)
        return {"Authorization": f"Bearer {token}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    with httpx.Client(base_url=url, timeout=1.0) as http:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
            try:
                if http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            with suppress(subprocess.TimeoutExpired):
                process.wait(0.1)  # or until it exits
    raise RuntimeError("the server did not start")


@pytest.fixture
def relay(postgres_url: str) -> Iterator[Relay]:
    parts = urlsplit(postgres_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield relay
    relay.close()


@pytest.fixture
def server(postgres_url: str, relay: Relay, tmp_path: Path) -> Iterator[Server]:
    """`funding serve` (with its projector) on a free port, its store behind the relay."""
    schema = f"reporting_{postgres_url.rsplit('schema=', 1)[1]}"
    direct = Ledger(env=library_env(postgres_url))
    token, _ = create_token(direct, name="ops", role=Role.ADMIN)
    port = _free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": relay.url(postgres_url),
        "FUNDING_REPORTING_SCHEMA": schema,
        "FUNDING_LOG_FORMAT": "json",
        "FUNDING_LOG_LEVEL": "WARNING",
        "FUNDING_POLL_INTERVAL": "0.1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [FUNDING, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process, log)
        yield Server(
            url,
            relay,
            direct,
            {"Authorization": f"Bearer {token}"},
            process,
            log,
            postgres_url,
            schema,
        )
    finally:
        relay.heal()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        direct.close()
        with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
