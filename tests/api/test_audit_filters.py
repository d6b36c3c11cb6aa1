"""The audit log as an auditor wants it: filters, bounded pages, each event with its leaf."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from api import audit_log
from api.app import create_app
from api.audit_log import PARIS, instant
from api.problems import ProblemError
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject, LaunchStudy
from domain.tokens import Role
from domain.values import Actor
from eventstore import merkle
from eventstore.settings import library_env
from eventstore.tree import log_tree
from projections.db import ReadModelDatabase
from projections.sql import Dialect
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for

HDF = Actor(name="dr-hdf", directorate="hauts_de_france")
IDF = Actor(name="dr-idf", directorate="ile_de_france")
NDJSON = "application/x-ndjson"


@dataclass
class Audited:
    """An API on a ledger holding projects written by two directorates."""

    client: TestClient
    ledger: Ledger
    headers: dict[str, str]
    projects: list[UUID]

    def get(self, **params: Any) -> dict[str, Any]:
        response = self.client.get("/v1/audit/events", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def all_pages(self, **params: Any) -> tuple[list[dict[str, Any]], int]:
        """Every matching event, following next_after; and how many requests it took."""
        events, after, requests = [], 0, 0
        while after is not None:
            page = self.get(**params, after=after)
            events += page["events"]
            after, requests = page["next_after"], requests + 1
        return events, requests


def _project(ledger: Ledger, actor: Actor, territory: str, name: str) -> UUID:
    written = ledger.execute(
        actor,
        IdentifyProject(
            name=name,
            territory=territory,
            theme="mobility",
            directorate=actor.directorate or "",
            identified_on=date(2024, 1, 2),
        ),
    )
    return written.id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def audited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Audited]:
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'ledger.sqlite3'}", "reporting"
    else:
        url = request.getfixturevalue("postgres_url")
        schema = reporting_schema_for(url)
    ledger = Ledger(env=library_env(url))
    read_models = ReadModelDatabase.from_url(url, schema)
    token, _ = create_token(ledger, name="auditor", role=Role.AUDITOR)
    projects = []
    for n in range(3):
        hdf = _project(ledger, HDF, "commune:59650", f"Tramway {n}")
        idf = _project(ledger, IDF, "commune:75056", f"Métro {n}")
        ledger.execute(
            HDF,
            GrantLoan(
                project_id=hdf, amount="1000", granted_on=date(2024, 3, 1), duration_months=60
            ),
        )
        ledger.execute(
            IDF,
            LaunchStudy(project_id=idf, amount="500", launched_on=date(2024, 3, 1), subject="x"),
        )
        projects += [hdf, idf]
    settings = Settings(database_url=url, reporting_schema=schema)
    try:
        with TestClient(create_app(settings, ledger, read_models)) as client:
            yield Audited(client, ledger, {"Authorization": f"Bearer {token}"}, projects)
    finally:
        read_models.close()
        ledger.close()
        if read_models.dialect is Dialect.POSTGRES:
            drop_reporting_schema(url, schema)


def test_each_event_carries_its_leaf_and_the_leaves_make_the_tree_s_root(
    audited: Audited,
) -> None:
    events = audited.get()["events"]

    stored = audited.ledger.recorder.select_notifications(start=1, limit=100)
    assert [e["position"] for e in events] == [n.id for n in stored]
    assert [e["leaf_index"] for e in events] == list(range(len(stored)))
    expected = [
        merkle.leaf_hash(n.id, UUID(str(n.originator_id)), n.originator_version, n.topic, n.state)
        for n in stored
    ]
    assert [e["leaf_hash"] for e in events] == [h.hex() for h in expected]
    assert merkle.root_of(expected) == log_tree(audited.ledger.recorder).root()


def test_the_actor_filter_answers_only_that_actor_s_events(audited: Audited) -> None:
    everything = audited.get()["events"]

    events = audited.get(actor="dr-idf")["events"]

    assert events == [e for e in everything if e["actor"] == "dr-idf"]
    assert len(events) == 9  # 3 projects, their 3 studies and their commitment ids' claims


def test_the_directorate_and_type_filters_apply_together(audited: Audited) -> None:
    events = audited.get(directorate="hauts_de_france", type="LoanGranted,StudyLaunched")["events"]

    assert [e["type"] for e in events] == ["LoanGranted"] * 3
    assert {e["directorate"] for e in events} == {"hauts_de_france"}


def test_type_may_be_repeated(audited: Audited) -> None:
    response = audited.client.get(
        "/v1/audit/events?type=LoanGranted&type=StudyLaunched", headers=audited.headers
    )

    assert sorted({e["type"] for e in response.json()["events"]}) == [
        "LoanGranted",
        "StudyLaunched",
    ]


def test_the_aggregate_filter_answers_that_aggregate_s_events_with_their_positions(
    audited: Audited,
) -> None:
    project = audited.projects[2]

    events = audited.get(aggregate_id=str(project))["events"]

    assert [e["version"] for e in events] == [1, 2]
    positions = audited.ledger.positions.event_positions(project)
    assert [e["position"] for e in events] == [positions[1], positions[2]]
    leaf = log_tree(audited.ledger.recorder).leaf(positions[2])
    assert leaf is not None
    assert events[1]["leaf_hash"] == leaf.hash.hex()
    assert events[1]["leaf_index"] == leaf.leaf_index


def test_the_aggregate_filter_pages_after_a_position(audited: Audited) -> None:
    project = audited.projects[2]
    first = audited.ledger.positions.event_positions(project)[1]

    events = audited.get(aggregate_id=str(project), after=first)["events"]

    assert [e["version"] for e in events] == [2]


def test_recording_time_filters_take_timestamps_and_paris_days(audited: Audited) -> None:
    everything = audited.get()["events"]
    middle = everything[len(everything) // 2]["recorded_at"]
    day = datetime.fromisoformat(middle).astimezone(PARIS).date()

    later = audited.get(recorded_from=middle)["events"]
    earlier = audited.get(recorded_to=middle)["events"]
    that_day = audited.get(recorded_from=day.isoformat(), recorded_to=day.isoformat())["events"]
    day_before = audited.get(recorded_to=(day - timedelta(days=1)).isoformat())["events"]

    assert all(e["recorded_at"] >= middle for e in later)
    assert all(e["recorded_at"] <= middle for e in earlier)
    assert {e["position"] for e in later} | {e["position"] for e in earlier} == {
        e["position"] for e in everything
    }
    assert len(that_day) == len(everything)
    assert day_before == []


def test_a_sparse_filter_pages_through_bounded_windows_to_the_head(
    audited: Audited, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_log, "SCAN_WINDOW", 4)
    head = audited.ledger.head_position()

    first = audited.get(type="LoanGranted", limit=100)
    events, requests = audited.all_pages(type="LoanGranted", limit=100)

    assert first["next_after"] == 4
    assert len(first["events"]) <= 1
    assert [e["type"] for e in events] == ["LoanGranted"] * 3
    assert requests == -(-head // 4)


def test_a_page_that_reaches_its_limit_carries_on_after_its_last_event(
    audited: Audited,
) -> None:
    page = audited.get(actor="dr-hdf", limit=2)

    rest, _ = audited.all_pages(actor="dr-hdf", limit=2)

    assert page["next_after"] == page["events"][-1]["position"]
    assert len(rest) == 9


def test_the_ndjson_stream_filters_too_and_says_where_its_window_ends(
    audited: Audited, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_log, "SCAN_WINDOW", 10)

    response = audited.client.get(
        "/v1/audit/events",
        params={"actor": "dr-hdf"},
        headers={**audited.headers, "Accept": NDJSON},
    )

    lines = [json.loads(line) for line in response.text.splitlines()]
    assert response.headers["x-next-after"] == "10"
    assert lines
    assert all(line["actor"] == "dr-hdf" and line["position"] <= 10 for line in lines)
    assert all(len(line["leaf_hash"]) == 64 for line in lines)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("directorate", "gondwana"),
        ("type", "LoanGranted,Nonsense"),
        ("aggregate_id", "not-a-uuid"),
        ("recorded_from", "yesterday"),
        ("recorded_from", "2024-12-31T10:00:00"),
        ("recorded_to", "2024-13-01"),
        ("limit", "0"),
        ("after", "-1"),
    ],
)
def test_an_invalid_filter_is_422_naming_its_parameter(
    audited: Audited, name: str, value: str
) -> None:
    response = audited.client.get("/v1/audit/events", params={name: value}, headers=audited.headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert ["query", name] in [e["loc"] for e in response.json()["errors"]]


def test_recorded_to_before_recorded_from_is_422(audited: Audited) -> None:
    response = audited.client.get(
        "/v1/audit/events",
        params={"recorded_from": "2025-01-02", "recorded_to": "2025-01-01"},
        headers=audited.headers,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "recorded_to"]


def test_an_unknown_aggregate_has_no_events(audited: Audited) -> None:
    page = audited.get(aggregate_id=str(uuid4()))

    assert page == {"events": [], "next_after": None, "head": audited.ledger.head_position()}


def test_a_min_position_beyond_the_head_is_refused(audited: Audited) -> None:
    response = audited.client.get(
        "/v1/audit/events", params={"min_position": 10_000}, headers=audited.headers
    )

    assert response.status_code == 422
    assert "beyond the log's head" in response.json()["detail"]


def test_a_date_is_that_day_in_paris_across_a_clock_change() -> None:
    start = instant("recorded_from", "2024-03-31", end_of_day=False)
    end = instant("recorded_to", "2024-03-31", end_of_day=True)

    assert start.isoformat() == "2024-03-31T00:00:00+01:00"
    assert end.isoformat() == "2024-03-31T23:59:59.999999+02:00"


def test_a_timestamp_without_its_zone_is_refused() -> None:
    with pytest.raises(ProblemError) as refused:
        instant("recorded_to", "2024-03-31T10:00", end_of_day=True)

    assert refused.value.extra["errors"][0]["loc"] == ["query", "recorded_to"]
