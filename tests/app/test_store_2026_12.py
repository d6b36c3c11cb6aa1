"""A store written by the code of 2026-12-01 loads, projects and answers as it did then.

tests/fixtures/store-2026-12.sqlite3 was written by that code (commit 9d1993c, before
commands became data, the event store adapter moved to eventstore/ and AccessToken moved into
domain/): four tokens (one revoked), the demo data set, and writes over HTTP with
Idempotency-Keys (a project and a loan on it, a project correction, a commitment amount
correction, a CSV import). store-2026-12.answers.json holds what that code answered on it;
tests/fixtures/make_store_2026_12.py, run against that commit, wrote both.

Event topics are stored in the database: a moved event class needs `register_topic`, or this
store no longer loads. Only the fixture is read: nothing here depends on the demo's code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tokens import list_tokens
from domain.application import Ledger
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.rebuild import rebuild
from projections.totals.labels import LABELLED

FIXTURES = Path(__file__).parents[1] / "fixtures"
STORE = FIXTURES / "store-2026-12.sqlite3"
ANSWERS: dict[str, Any] = json.loads(
    (FIXTURES / "store-2026-12.answers.json").read_text(encoding="utf-8")
)
HEAD: int = ANSWERS["head_position"]
TOKENS: dict[str, dict[str, Any]] = {t["name"]: t for t in ANSWERS["tokens"]}
REQUESTS: list[dict[str, Any]] = ANSWERS["idempotent_requests"]


@dataclass(frozen=True)
class Opened:
    """A copy of the fixture opened as the app opens a store, and the API on it."""

    ledger: Ledger
    client: TestClient


@pytest.fixture(scope="module")
def projected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opened]:
    """The store with its read models rebuilt from the log (shared: only read)."""
    with _opened(tmp_path_factory.mktemp("store-2026-12"), rebuilt=True) as opened:
        yield opened


@pytest.fixture
def writable(tmp_path: Path) -> Iterator[Opened]:
    """A copy of its own, for a test that sends writes."""
    with _opened(tmp_path, rebuilt=False) as opened:
        yield opened


def test_every_event_still_loads(projected: Opened) -> None:
    ledger = projected.ledger
    kinds: Counter[str] = Counter()
    last = 0
    while page := ledger.recorder.select_notifications(start=last + 1, limit=500):
        for notification in page:
            kinds[type(ledger.mapper.to_domain_event(notification)).__name__] += 1
        last = page[-1].id

    assert dict(kinds) == ANSWERS["events_by_kind"]
    assert last == ledger.head_position() == HEAD


@pytest.mark.parametrize("group_by", sorted(ANSWERS["totals"]))
def test_totals_answer_as_recorded(projected: Opened, group_by: str) -> None:
    response = projected.client.get("/v1/totals", params={"group_by": group_by}, headers=_auth())

    assert response.status_code == 200, response.text
    # Labels came after the recording: beside it, every row carries its dimensions' labels.
    answer = response.json()
    labels = [{k: row.pop(k) for k in list(row) if k.endswith("_label")} for row in answer["rows"]]
    assert answer == ANSWERS["totals"][group_by]
    labelled = bool(set(group_by.split(",")) & set(LABELLED))
    assert all(bool(label) is labelled for label in labels)


def _as_recorded_then(state: dict[str, Any]) -> bool:
    """Give non-loan commitments their outstanding as it was then; whether any changed."""
    changed = False
    for commitment in state["commitments"]:
        if commitment["instrument"] != "loan":
            then = str(Decimal(commitment["disbursed"]) - Decimal(commitment["repaid"]))
            changed = changed or then != commitment["outstanding"]
            commitment["outstanding"] = then
    return changed


def test_every_project_reads_as_recorded(projected: Opened) -> None:
    page = projected.client.get("/v1/projects", params={"limit": 1000}, headers=_auth())
    assert page.status_code == 200, page.text
    listed = page.json()
    digests: dict[str, dict[str, str]] = ANSWERS["project_digests"]

    assert listed["next_cursor"] is None
    assert listed["position"] == ANSWERS["projects_list"]["position"]
    assert sorted(item["project_id"] for item in listed["items"]) == sorted(digests)
    changed_states, changed_items = [], []
    redefined = 0
    for item in listed["items"]:
        project_id = item["project_id"]
        response = projected.client.get(f"/v1/projects/{project_id}", headers=_auth())
        assert response.status_code == 200, response.text
        state = response.json()
        # Outstanding is now a loan's alone (docs/reporting.md): the answers recorded then
        # showed an equity stake's or a study's disbursed money as outstanding.
        if _as_recorded_then(state):
            redefined += 1
        # The representative set compares in full first: a difference shows itself.
        if project_id in ANSWERS["projects"]:
            assert state == ANSWERS["projects"][project_id]
            assert item == ANSWERS["listed_projects"][project_id]
        if _digest(state) != digests[project_id]["state"]:
            changed_states.append(project_id)
        if _digest(item) != digests[project_id]["listed"]:
            changed_items.append(project_id)

    assert changed_states == [], "GET /v1/projects/{id} answers otherwise for these"
    assert redefined > 0
    assert changed_items == [], "GET /v1/projects lists these otherwise"


def test_conventions_answer_as_recorded(projected: Opened) -> None:
    response = projected.client.get("/v1/conventions", headers=_auth())

    assert response.status_code == 200, response.text
    # What remains of each envelope came after the recording.
    answer = response.json()
    for item in answer["items"]:
        envelope = item.pop("remaining"), item.pop("over_envelope")
        assert envelope[1] is (envelope[0] is not None and envelope[0].startswith("-"))
    assert answer == ANSWERS["conventions"]


def test_tokens_are_listed_and_authenticate_as_recorded(projected: Opened) -> None:
    listed = [
        {
            "id": str(t.id),
            "name": t.name,
            "role": str(t.role),
            "directorate": t.directorate,
            "revoked": t.revoked,
        }
        for t in list_tokens(projected.ledger)
    ]
    recorded = [{k: v for k, v in t.items() if k != "secret"} for t in ANSWERS["tokens"]]

    assert listed == recorded
    for token in ANSWERS["tokens"]:
        response = projected.client.get("/v1/reference", headers=_auth(token["name"]))
        assert response.status_code == (401 if token["revoked"] else 200), token["name"]
    assert TOKENS["fixture-viewer"]["revoked"]
    # The auditor's role, read from its TokenIssued event, still forbids writing.
    refused = projected.client.post(
        "/v1/projects", json=REQUESTS[0]["json"], headers=_auth("fixture-auditor")
    )
    assert refused.status_code == 403
    assert projected.ledger.head_position() == HEAD


@pytest.mark.parametrize("request_", REQUESTS, ids=[r["name"] for r in REQUESTS])
def test_a_recorded_request_sent_again_is_answered_as_then(
    writable: Opened, request_: dict[str, Any]
) -> None:
    headers = {**_auth(request_["token"]), "Idempotency-Key": request_["idempotency_key"]}
    if "csv" in request_:
        headers["Content-Type"] = "text/csv"
        response = writable.client.post(
            request_["path"], content=request_["csv"].encode(), headers=headers
        )
    else:
        response = writable.client.post(request_["path"], json=request_["json"], headers=headers)

    assert response.status_code == request_["status"] == 201, response.text
    assert response.headers.get("Idempotent-Replayed") == "true"
    assert response.json() == request_["answer"]
    assert writable.ledger.head_position() == HEAD  # nothing written


@contextmanager
def _opened(directory: Path, *, rebuilt: bool) -> Iterator[Opened]:
    """Copy the fixture, open its ledger and read models as the app does, serve the API."""
    copy = directory / STORE.name
    shutil.copy(STORE, copy)
    url = f"sqlite:///{copy}"
    ledger = Ledger(env=library_env(url))
    read_models = ReadModelDatabase.from_url(url)
    try:
        if rebuilt:
            assert rebuild(ledger, read_models) == HEAD
        settings = Settings(database_url=url, read_wait_timeout=2)
        with TestClient(create_app(settings, ledger, read_models)) as client:
            yield Opened(ledger, client)
    finally:
        read_models.close()
        ledger.close()


def _auth(name: str = "fixture-admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]['secret']}"}


def _digest(answer: Any) -> str:
    """The SHA-256 of a JSON answer's canonical form, as the answers file records it."""
    canonical = json.dumps(answer, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
