"""Writes are recorded exactly once when the database connection drops, acknowledged or not."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.faults.conftest import Server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

OUTAGE_SECONDS = 1.0

PROJECT = {
    "name": "Halle gourmande",
    "territory": "commune:59650",
    "theme": "town_centres",
    "directorate": "hauts_de_france",
    "identified_on": "2024-04-02",
}


def _loan(http: httpx.Client) -> tuple[str, str, int]:
    project = http.post("/v1/projects", json=PROJECT)
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    loan = http.post(
        f"/v1/projects/{project_id}/loans",
        json={"amount": "1000000", "granted_on": "2024-05-01", "duration_months": 240},
    )
    assert loan.status_code == 201, loan.text
    return project_id, loan.json()["commitment_id"], loan.json()["position"]


def _disbursements_by_request(server: Server, project_id: str) -> Counter[str]:
    events = server.ledger.project_events(uuid.UUID(project_id))
    return Counter(e.meta["correlation_id"] for e in events if e.type == "FundsDisbursed")


def _disburse(http: httpx.Client, project_id: str, commitment_id: str, request_id: str) -> Any:
    return http.post(
        f"/v1/projects/{project_id}/commitments/{commitment_id}/disbursements",
        # Equal disbursements under distinct request ids, all meant: confirmed.
        params={"confirm_duplicate": "true"},
        json={"amount": "0.01", "disbursed_on": "2024-06-01"},
        headers={"X-Request-ID": request_id},
    )


def test_a_write_whose_commit_answer_is_lost_is_recorded_once_and_answered_201(
    server: Server,
) -> None:
    with server.client() as http:
        project_id, commitment_id, position = _loan(http)
        # The projector has applied everything: the next commit through the relay is ours.
        assert http.get("/v1/projects", params={"min_position": position}).status_code == 200
        server.relay.lose_commit_answers(1)

        answer = _disburse(http, project_id, commitment_id, "lost-answer-1")

    assert server.relay.answers_lost == 1
    assert answer.status_code == 201, answer.text
    assert _disbursements_by_request(server, project_id) == {"lost-answer-1": 1}
    stored = server.ledger.project_events(uuid.UUID(project_id))
    assert answer.json()["version"] == stored[-1].version
    assert answer.json()["position"] == stored[-1].position


def test_writes_under_repeated_cuts_and_lost_answers_are_each_recorded_once(
    server: Server,
) -> None:
    with server.client() as http:
        project_id, commitment_id, _ = _loan(http)
    answers: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with server.client(timeout=60) as http:
            i = 0
            while not stop.is_set():
                request_id = f"c{n}-{i}"
                i += 1
                try:
                    status = _disburse(http, project_id, commitment_id, request_id).status_code
                except httpx.TransportError:
                    status = 0  # no answer at all: must not count as a failure that stored
                with lock:
                    answers[request_id] = status

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    try:
        for round_ in range(6):
            _wait_for_answers(answers, lock, 40 * (round_ + 1))
            server.relay.lose_commit_answers(2)
            _wait_for_answers(answers, lock, 40 * (round_ + 1) + 20)
            server.relay.down()
            time.sleep(OUTAGE_SECONDS)  # the outage's length, not a synchronisation
            server.relay.up()
    finally:
        stop.set()
        for t in threads:
            t.join()

    stored = _disbursements_by_request(server, project_id)
    created = {r for r, status in answers.items() if status == 201}
    refused = {r for r, status in answers.items() if status not in (201, 0)}
    assert server.relay.answers_lost >= 1
    assert len(created) > 100
    assert all(stored[r] == 1 for r in created), [r for r in created if stored[r] != 1]
    assert not [r for r in refused if stored[r]], "an error answer for a stored write"
    assert max(stored.values()) == 1


def _wait_for_answers(answers: dict[str, int], lock: threading.Lock, count: int) -> None:
    """Wait until `count` answers arrived."""
    arrived = threading.Event()
    while not arrived.wait(0.05):
        with lock:
            if len(answers) >= count:
                return
