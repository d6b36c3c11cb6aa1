"""Operations: metrics, the audit log, access logs."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from domain.application import Ledger
from domain.commands import IdentifyProject, LaunchStudy
from domain.outcomes import Written
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france", correlation_id="corr-7")


@pytest.fixture
def project(api_ledger: Ledger) -> Written:
    """A project with a study."""
    written = api_ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Tiers-lieu",
            territory="commune:59632",
            theme="digital",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 15),
        ),
    )
    return api_ledger.execute(
        ACTOR,
        LaunchStudy(
            project_id=written.id, amount="12000", launched_on=date(2024, 2, 1), subject="Usages"
        ),
    )


def test_metrics_count_requests_by_route_and_status_and_report_lag(
    client: TestClient, tokens: dict[str, str], project: Written, read_models: ReadModelDatabase
) -> None:
    client.get(f"/v1/projects/{project.id}", headers={"Authorization": tokens["viewer"]})

    text = client.get("/metrics").text

    assert 'route="/v1/projects/{project_id}"' in text
    assert 'status="200"' in text
    assert "funding_http_request_duration_seconds_bucket" in text
    assert f"funding_events_appended {float(project.position)}" in text
    assert 'funding_projection_lag_events{name="totals"}' in text


def test_the_audit_log_lists_every_event_in_order(
    client: TestClient, tokens: dict[str, str], project: Written
) -> None:
    response = client.get("/v1/audit/events", headers={"Authorization": tokens["auditor"]})

    events = [e for e in response.json()["events"] if e["aggregate_type"] == "Project"]
    assert [e["type"] for e in events] == ["ProjectIdentified", "StudyLaunched"]
    assert events[1]["position"] == project.position
    assert events[1]["correlation_id"] == "corr-7"


def test_the_audit_log_streams_ndjson(
    client: TestClient, tokens: dict[str, str], project: Written
) -> None:
    response = client.get(
        "/v1/audit/events",
        params={"after": project.position - 1},
        headers={"Authorization": tokens["auditor"], "Accept": "application/x-ndjson"},
    )

    lines = [json.loads(line) for line in response.text.splitlines()]
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert [line["position"] for line in lines] == [project.position]


def test_a_directorate_may_not_read_the_audit_log(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.get("/v1/audit/events", headers={"Authorization": tokens["hdf"]})

    assert response.status_code == 403


def test_each_request_is_logged_once_with_its_route_and_actor_but_never_the_token(
    client: TestClient,
    tokens: dict[str, str],
    project: Written,
    api_ledger: Ledger,
    read_models: ReadModelDatabase,
) -> None:
    catch_up(api_ledger, read_models)

    with capture_logs() as logs:
        client.get("/v1/totals", headers={"Authorization": tokens["viewer"]})

    requests = [entry for entry in logs if entry["event"] == "request"]
    assert len(requests) == 1
    entry = requests[0]
    assert (entry["route"], entry["status"], entry["actor"]) == ("/v1/totals", 200, "viewer")
    assert entry["duration_ms"] >= 0
    assert tokens["viewer"].split()[1] not in repr(logs)


def test_a_server_process_freezes_its_long_lived_objects_out_of_collections() -> None:
    import gc

    from api.app import GC_YOUNG_THRESHOLD, settle_heap

    threshold = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 10_000  # modules, the territories, the app
        assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
