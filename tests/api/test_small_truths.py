"""Small truths: a position beyond the head is said on every read; a read's refused filter is
in the query; an import answers the position of its last fact, and its replay the same."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from domain.application import Ledger
from tests.api import test_writes
from tests.api.test_writes import World

world = test_writes.world


@pytest.mark.parametrize(
    "path",
    ["/v1/reference", "/v1/projections", "/v1/audit/verify", "/v1/audit/events", "/v1/totals"],
)
def test_a_min_position_beyond_the_head_is_refused_on_every_read_with_the_head(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger, path: str
) -> None:
    head = api_ledger.head_position()

    answer = client.get(
        path, params={"min_position": head + 1}, headers={"Authorization": tokens["admin"]}
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["head"] == head
    assert answer.json()["errors"][0]["loc"] == ["query", "min_position"]
    assert f"beyond the log's head, position {head}" in answer.json()["detail"]


def test_a_read_s_refused_filter_is_located_in_the_query(
    client: TestClient, tokens: dict[str, str]
) -> None:
    auth = {"Authorization": tokens["viewer"]}

    theme = client.get("/v1/totals", params={"theme": "Mobilité"}, headers=auth)
    status = client.get("/v1/projects", params={"status": "ouvert"}, headers=auth)

    assert theme.json()["errors"][0]["loc"] == ["query", "theme"]
    assert status.json()["errors"][0]["loc"] == ["query", "status"]


def test_an_import_answers_its_last_fact_s_position_and_its_replay_the_same(
    client: TestClient, tokens: dict[str, str], world: World, api_ledger: Ledger
) -> None:
    headers = {
        "Authorization": tokens["hdf"],
        "Content-Type": "text/csv",
        "Idempotency-Key": "import-1",
    }
    body = (
        "project_id;instrument;amount;date;subject\n"
        f"{world.project};study;12 000,00;01/02/2024;Étude de trafic\n"
        f"{world.project};study;13 000,00;01/02/2024;Étude de sol\n"
    ).encode()

    first = client.post("/v1/imports", content=body, headers=headers)
    replay = client.post("/v1/imports", content=body, headers=headers)

    assert first.status_code == 201, first.text
    events = api_ledger.project_events(world.project)
    assert first.json()["position"] == events[-1].position
    # The key's record is saved after the facts, in the same transaction: not the answer.
    assert api_ledger.head_position() == events[-1].position + 1
    assert replay.json() == first.json()
