"""A large CSV import finishes, and other clients' writes are answered while it runs."""

from __future__ import annotations

import threading
import time
from uuid import UUID

import pytest

from tests.faults.conftest import Server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROJECT = {
    "name": "Friche Arkema",
    "territory": "commune:62498",
    "theme": "brownfields",
    "directorate": "hauts_de_france",
    "identified_on": "2024-03-01",
}


def test_an_import_near_the_body_limit_finishes_while_other_writes_are_answered(
    server: Server,
) -> None:
    with server.client(timeout=120) as http:
        target = http.post("/v1/projects", json=PROJECT).json()["id"]
        other = http.post("/v1/projects", json={**PROJECT, "name": "Halle"}).json()["id"]
        loan = http.post(
            f"/v1/projects/{other}/loans",
            json={"amount": "1000000", "granted_on": "2024-05-01", "duration_months": 240},
        ).json()["commitment_id"]
    rows = "".join(f"{target},study,1,2026-03-01,s\n" for _ in range(18_000))
    body = f"project_id,instrument,amount,date,subject\n{rows}".encode()
    assert len(body) < 1024 * 1024
    imported: dict[str, object] = {}
    writes: list[tuple[int, float]] = []
    importing = threading.Event()

    def run_import() -> None:
        with server.client(timeout=120) as http:
            importing.set()
            # 18,000 equal rows, all meant: not possible duplicates.
            answer = http.post(
                "/v1/imports",
                params={"confirm_duplicate": "true"},
                content=body,
                headers={"Content-Type": "text/csv"},
            )
            imported["status"] = answer.status_code
            imported["body"] = answer.json()

    thread = threading.Thread(target=run_import)
    thread.start()
    importing.wait()
    with server.client(timeout=60) as http:
        while thread.is_alive() or not writes:
            started = time.monotonic()
            status = http.post(
                f"/v1/projects/{other}/commitments/{loan}/disbursements",
                params={"confirm_duplicate": "true"},
                json={"amount": "0.01", "disbursed_on": "2024-06-01"},
            ).status_code
            writes.append((status, time.monotonic() - started))
    thread.join()

    assert imported["status"] == 201, imported["body"]
    report = imported["body"]
    assert isinstance(report, dict)
    assert report["accepted"] == 18_000
    assert all(status == 201 for status, _ in writes), writes
    assert max(seconds for _, seconds in writes) < 5, writes
    assert len(server.ledger.project(UUID(target)).commitments) == 18_000
