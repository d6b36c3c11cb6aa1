"""Token hashes stay out of every read: the audit log shows token events without them."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.tokens import hash_token, token_id


def presented(tokens: dict[str, str]) -> list[str]:
    """The tokens themselves, without their `Bearer ` prefix."""
    return [header.split()[1] for header in tokens.values()]


@pytest.mark.parametrize("accept", ["application/json", "application/x-ndjson"])
def test_the_audit_log_shows_token_events_without_their_hash(
    client: TestClient, tokens: dict[str, str], accept: str
) -> None:
    response = client.get(
        "/v1/audit/events", headers={"Authorization": tokens["auditor"], "Accept": accept}
    )

    assert response.status_code == 200
    if accept == "application/json":
        events = response.json()["events"]
    else:
        events = [json.loads(line) for line in response.text.splitlines()]
    issued = [e for e in events if e["type"] == "TokenIssued"]
    assert len(issued) == len(tokens)
    assert all("token_hash" not in e["data"] for e in issued)
    assert {e["data"]["name"] for e in issued} == {"admin", "auditor", "viewer", "dr-hdf"}
    assert not any(hash_token(token) in response.text for token in presented(tokens))


def test_a_token_record_is_not_readable_as_a_project(
    client: TestClient, tokens: dict[str, str]
) -> None:
    record = token_id(hash_token(presented(tokens)[0]))

    response = client.get(
        f"/v1/projects/{record}/events", headers={"Authorization": tokens["admin"]}
    )

    assert response.status_code == 404
    assert hash_token(presented(tokens)[0]) not in response.text
