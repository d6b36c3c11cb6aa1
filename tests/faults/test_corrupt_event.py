"""Damaged stored bytes: reads and writes name the event in a problem; a rebuild stops cleanly."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.corruption import damage_event
from tests.faults.conftest import FUNDING, Server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROJECT = {
    "name": "Cité des électriciens",
    "territory": "commune:62133",
    "theme": "culture_sport",
    "directorate": "hauts_de_france",
    "identified_on": "2024-03-01",
}


def test_a_damaged_event_is_named_by_every_read_and_write_and_by_the_rebuild(
    server: Server,
) -> None:
    with server.client() as http:
        project = http.post("/v1/projects", json=PROJECT).json()
        loan = http.post(
            f"/v1/projects/{project['id']}/loans",
            json={"amount": "1000", "granted_on": "2024-05-01", "duration_months": 12},
        ).json()
        damage_event(server.store_url, loan["position"])

        answers = [
            http.get(f"/v1/projects/{project['id']}"),
            http.get(f"/v1/projects/{project['id']}/events"),
            http.get("/v1/audit/events"),
            http.post(
                f"/v1/projects/{project['id']}/studies",
                json={"amount": "10", "launched_on": "2024-06-01", "subject": "Étude"},
            ),
        ]
    rebuilt = subprocess.run(  # noqa: S603 - our own console script
        [FUNDING, "rebuild"],
        env={
            **os.environ,
            "FUNDING_DATABASE_URL": server.store_url,
            "FUNDING_REPORTING_SCHEMA": server.reporting_schema,
        },
        capture_output=True,
        text=True,
        check=False,
    )

    for answer in answers:
        assert answer.headers["content-type"] == "application/problem+json", answer.text
        assert answer.status_code == 500
        assert answer.json()["position"] == loan["position"]
    assert rebuilt.returncode != 0
    assert str(loan["position"]) in rebuilt.stdout + rebuilt.stderr
    assert "Traceback" not in rebuilt.stderr
