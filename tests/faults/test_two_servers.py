"""Two API processes on one PostgreSQL, clients alternating between them: idempotency keys,
If-Match and token revocation hold across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.tokens import create_token, revoke_token
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env
from tests.faults.conftest import FUNDING, _free_port, _wait_until_serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROJECT = {
    "name": "Tramway de l'agglomération",
    "territory": "epci:246200364",
    "theme": "mobility",
    "directorate": "hauts_de_france",
    "identified_on": "2024-01-05",
}
LOAN = {"amount": "2500000.00", "granted_on": "2024-03-01", "duration_months": 240}


@dataclass
class Servers:
    """Two `funding serve --no-projector` processes on one store, and the store itself."""

    urls: list[str]
    ledger: Ledger
    admin: dict[str, str]

    def client(self, index: int, headers: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.urls[index % 2], headers=headers or self.admin, timeout=30
        )

    def events(self) -> int:
        return self.ledger.head_position()


@pytest.fixture
def servers(postgres_url: str, tmp_path: Path) -> Iterator[Servers]:
    schema = f"reporting_{postgres_url.rsplit('schema=', 1)[1]}"
    ledger = Ledger(env=library_env(postgres_url))
    token, _ = create_token(ledger, name="ops", role=Role.ADMIN)
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": postgres_url,
        "FUNDING_REPORTING_SCHEMA": schema,
        "FUNDING_LOG_FORMAT": "json",
        "FUNDING_LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for index in range(2):
            port = _free_port()
            log = tmp_path / f"server-{index}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603 - our own console script
                    [FUNDING, "serve", "--port", str(port), "--no-projector"],
                    env=env,
                    stdout=out,
                    stderr=out,
                )
            processes.append(process)
            urls.append(f"http://127.0.0.1:{port}")
            _wait_until_serving(urls[-1], process, log)
        yield Servers(urls, ledger, {"Authorization": f"Bearer {token}"})
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        ledger.close()
        with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def post(client: httpx.Client, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post(path, json=body, headers=headers)


def test_a_key_sent_to_each_process_records_once_and_answers_the_same(servers: Servers) -> None:
    with servers.client(0) as first, servers.client(1) as second:
        created = post(first, "/v1/projects", PROJECT, **{"Idempotency-Key": "p-1"})
        head = servers.events()
        again = post(second, "/v1/projects", PROJECT, **{"Idempotency-Key": "p-1"})
        other = post(
            second, "/v1/projects", {**PROJECT, "name": "Autre"}, **{"Idempotency-Key": "p-1"}
        )

    assert created.status_code == 201
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == created.json()
    assert other.status_code == 409
    assert servers.events() == head


def test_twins_sent_at_once_to_both_processes_record_once(servers: Servers) -> None:
    with servers.client(0) as client:
        project = post(client, "/v1/projects", PROJECT).json()["id"]
    head = servers.events()
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def send(index: int) -> None:
        with servers.client(index) as client:
            start.wait()
            response = post(
                client, f"/v1/projects/{project}/loans", LOAN, **{"Idempotency-Key": "loan-1"}
            )
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert [a.status_code for a in answers] == [201] * 8
    assert len({a.json()["commitment_id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") != "true" for a in answers) == 1
    # The loan, its commitment id's claim and the key's record: once.
    assert servers.events() == head + 3


def test_if_match_written_through_one_process_refuses_the_other_s_stale_version(
    servers: Servers,
) -> None:
    with servers.client(0) as first, servers.client(1) as second:
        project = post(first, "/v1/projects", PROJECT).json()
        version = str(project["version"])
        path = f"/v1/projects/{project['id']}/loans"
        written = post(second, path, LOAN, **{"If-Match": version})
        head = servers.events()
        stale = post(first, path, LOAN, **{"If-Match": version})
        # The same loan again, meant: confirmed.
        current = post(
            first,
            path + "?confirm_duplicate=true",
            LOAN,
            **{"If-Match": str(written.json()["version"])},
        )

    assert written.status_code == 201
    assert stale.status_code == 412
    assert current.status_code == 201
    assert servers.events() == head + 2  # the second loan and its claim only


def test_a_token_revoked_stops_working_in_both_processes(servers: Servers) -> None:
    token, _ = create_token(servers.ledger, name="analyst", role=Role.VIEWER)
    headers = {"Authorization": f"Bearer {token}"}
    with servers.client(0, headers) as first, servers.client(1, headers) as second:
        before = [first.get("/v1/reference"), second.get("/v1/reference")]

        revoke_token(servers.ledger, "analyst")
        after = [first.get("/v1/reference"), second.get("/v1/reference")]

    assert [r.status_code for r in before] == [200, 200]
    assert [r.status_code for r in after] == [401, 401]
