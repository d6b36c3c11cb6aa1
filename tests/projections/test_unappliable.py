"""Events a read model cannot apply: the projector and a rebuild stop on them, naming them.

The events are written straight through `Ledger.save`, as older code could, past the
ledger's refusal of a commitment id another project holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import MutableMapping, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from api.cli import app
from domain.application import Ledger
from domain.commands import CancelCommitment, GrantLoan, IdentifyProject
from domain.project import Project
from domain.values import Actor
from eventstore.settings import (
    POSTGRES_EVENTS_TABLE,
    SQLITE_EVENTS_TABLE,
    SQLITE_PERSISTENCE,
    library_env,
)
from projections import registry
from projections.db import ReadModelDatabase
from projections.events import Change
from projections.feed import catch_up, position_of
from projections.projector import ProjectionState, Projector, status
from projections.rebuild import rebuild
from projections.registry import READ_MODELS, TOTALS, Applier
from projections.sql import Cursor
from projections.state import UnappliableEventError
from projections.stops import stopped
from tests.projections.conftest import reporting_schema_for
from tests.projections.test_rebuild import live_tables, pending

ACTOR = Actor(name="projection-tests")
HDF = "hauts_de_france"
runner = CliRunner()


@dataclass(frozen=True)
class Reuse:
    """Two projects holding one commitment id; where the second one's event sits."""

    first: UUID
    second: UUID
    commitment_id: UUID
    position: int


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty event store: SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def identify(ledger: Ledger, name: str, theme: str = "mobility") -> UUID:
    """Record a project in the Nord."""
    return ledger.execute(
        ACTOR,
        IdentifyProject(
            name=name,
            territory="commune:59350",
            theme=theme,
            directorate=HDF,
            identified_on=date(2023, 1, 2),
        ),
    ).id


def saved_position(ledger: Ledger, *objects: Any) -> int:
    """Save aggregates or events as they are (no ledger check); return the last position."""
    recordings = ledger.save(*objects)
    position = recordings[-1].notification.id
    assert position is not None
    return position


def reuse_a_commitment_id(ledger: Ledger) -> Reuse:
    """A loan, then a study on another project under the loan's id, then a cancellation."""
    first = identify(ledger, "Pôle d'échanges de Lille-Flandres")
    loan = ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=first,
            amount="322865621.00",
            granted_on=date(2023, 6, 1),
            duration_months=240,
        ),
    ).commitment_id
    assert loan is not None
    second = identify(ledger, "Médiathèque", theme="culture_sport")
    project: Project = ledger.repository.get(second)
    project.launch_study(
        commitment_id=loan, amount="2179000.00", launched_on=date(2024, 1, 1), subject="Usages"
    )
    position = saved_position(ledger, project)
    ledger.execute(
        ACTOR,
        CancelCommitment(
            project_id=first,
            commitment_id=loan,
            amount="1000000.00",
            cancelled_on=date(2024, 2, 1),
            reason="r",
        ),
    )
    return Reuse(first, second, loan, position)


def disburse_an_unknown_commitment(ledger: Ledger) -> tuple[UUID, int]:
    """A disbursement on a commitment no project was ever granted; its commitment and position."""
    project_id = identify(ledger, "Tiers-lieu")
    project: Project = ledger.repository.get(project_id)
    unknown = uuid4()
    fields: dict[str, Any] = {
        "originator_id": project_id,
        "originator_version": project.version + 1,
        "timestamp": Project.FundsDisbursed.create_timestamp(),
        "commitment_id": unknown,
        "amount": Decimal("5.00"),
        "disbursed_on": date(2024, 1, 5),
    }
    return unknown, saved_position(ledger, Project.FundsDisbursed(**fields))


def damage(store_url: str, position: int) -> None:
    """Overwrite the stored bytes of the event at a log position."""
    env = library_env(store_url)
    if env["PERSISTENCE_MODULE"] == SQLITE_PERSISTENCE:
        with closing(sqlite3.connect(env["SQLITE_DBNAME"])) as embedded, embedded:
            embedded.execute(
                f"UPDATE {SQLITE_EVENTS_TABLE} SET state = 'garbage' WHERE rowid = ?",  # noqa: S608
                (position,),
            )
        return
    table = f'"{env["POSTGRES_SCHEMA"]}".{POSTGRES_EVENTS_TABLE}'
    with psycopg.connect(store_url.partition("?")[0], autocommit=True) as conn:
        conn.execute(
            f"UPDATE {table} SET state = 'garbage' WHERE notification_id = %s",  # noqa: S608
            (position,),
        )


def apply_totals_with(monkeypatch: pytest.MonkeyPatch, apply: Applier) -> None:
    """Make the `totals` read model apply its pages with `apply` for the rest of the test."""
    model = registry.BY_NAME[TOTALS]
    monkeypatch.setitem(registry.BY_NAME, TOTALS, replace(model, apply=apply))


def stop_lines(logs: Sequence[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    """The error lines a projector logged when a read model stopped."""
    return [line for line in logs if line["event"] == "projection_stopped"]


# The live projector ----------------------------------------------------------------------


def test_a_reused_commitment_id_stops_the_projector_naming_the_event_and_the_holder(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    reuse = reuse_a_commitment_id(ledger)
    projector = Projector(ledger, read_db, listen=False)

    with capture_logs() as logs:
        projector.step()

    found = {s.name: s for s in status(ledger, read_db)}
    for name in READ_MODELS:
        error = found[name].error
        assert found[name].state is ProjectionState.STOPPED
        assert error is not None
        assert error.position == reuse.position
        assert str(reuse.commitment_id) in error.reason
        assert str(reuse.first) in error.reason
        # Everything before the event is applied; nothing from it on.
        assert position_of(read_db, name) == reuse.position - 1
    lines = stop_lines(logs)
    assert sorted(line["read_model"] for line in lines) == sorted(READ_MODELS)
    assert all(line["log_level"] == "error" for line in lines)
    assert all(line["position"] == reuse.position for line in lines)
    assert all(str(reuse.commitment_id) in line["reason"] for line in lines)


def test_a_stopped_projector_does_not_try_again_until_it_restarts_then_tries_once(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    reuse = reuse_a_commitment_id(ledger)
    projector = Projector(ledger, read_db, listen=False)
    projector.step()

    with capture_logs() as again:
        for _ in range(3):
            projector.step()
    with capture_logs() as restarted:
        Projector(ledger, read_db, listen=False).step()

    assert stop_lines(again) == []
    assert len(stop_lines(restarted)) == len(READ_MODELS)
    assert [s.position for s in stopped(read_db)] == [reuse.position] * len(READ_MODELS)


def test_an_event_for_a_commitment_never_granted_stops_the_projector(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    commitment_id, position = disburse_an_unknown_commitment(ledger)

    Projector(ledger, read_db, listen=False).step()

    found = stopped(read_db)
    assert {s.name for s in found} == set(READ_MODELS)
    assert all(s.position == position for s in found)
    assert all(str(commitment_id) in s.reason for s in found)


def test_a_damaged_event_stops_the_projector_at_its_position(
    ledger: Ledger, read_db: ReadModelDatabase, store_url: str
) -> None:
    identify(ledger, "Gare")
    position = ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=identify(ledger, "Halle"),
            amount="10.00",
            granted_on=date(2024, 1, 1),
            duration_months=12,
        ),
    ).position
    identify(ledger, "Port")
    damage(store_url, position)

    Projector(ledger, read_db, listen=False).step()

    found = stopped(read_db)
    assert {s.name for s in found} == set(READ_MODELS)
    assert all(s.position == position for s in found)
    assert all("cannot be decoded" in s.reason for s in found)
    assert all(position_of(read_db, name) == position - 1 for name in READ_MODELS)


def test_any_failure_applying_a_page_stops_that_read_model_only(
    ledger: Ledger, read_db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    identify(ledger, "Gare")
    failing = identify(ledger, "Halle")
    identify(ledger, "Port")
    original = registry.registered(TOTALS).apply

    def fail_on_the_second_project(
        db: ReadModelDatabase, cur: Cursor, generation: int, changes: Sequence[Change], bulk: bool
    ) -> None:
        if any(change.aggregate_id == str(failing) for change in changes):
            raise RuntimeError("the applier broke")
        original(db, cur, generation, changes, bulk)

    apply_totals_with(monkeypatch, fail_on_the_second_project)

    Projector(ledger, read_db, listen=False).step()

    found = {s.name: s for s in status(ledger, read_db)}
    head = ledger.head_position()
    error = found["totals"].error
    assert found["totals"].state is ProjectionState.STOPPED
    assert error is not None
    assert "RuntimeError: the applier broke" in error.reason
    assert found["totals"].position < head
    assert found["projects"].state is ProjectionState.LIVE
    assert found["projects"].position == head


def test_after_a_restart_a_read_model_that_can_apply_the_event_again_carries_on(
    ledger: Ledger, read_db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    identify(ledger, "Gare")
    original = registry.registered(TOTALS).apply

    def broken(*_: Any) -> None:
        raise RuntimeError("a bug, since fixed")

    apply_totals_with(monkeypatch, broken)
    Projector(ledger, read_db, listen=False).step()
    apply_totals_with(monkeypatch, original)

    Projector(ledger, read_db, listen=False).step()

    assert stopped(read_db) == []
    assert all(s.state is ProjectionState.LIVE for s in status(ledger, read_db))
    assert position_of(read_db, TOTALS) == ledger.head_position()


def test_a_store_outage_is_waited_out_not_a_stop(
    ledger: Ledger, read_db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    identify(ledger, "Gare")

    def unreachable(*_: Any) -> None:
        raise psycopg.OperationalError("connection refused")

    apply_totals_with(monkeypatch, unreachable)

    with pytest.raises(psycopg.OperationalError):
        Projector(ledger, read_db, listen=False).step()

    assert stopped(read_db) == []


# Rebuilds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 2, 20_000])
def test_a_rebuild_stops_at_a_reused_commitment_id_and_leaves_the_live_read_models(
    ledger: Ledger, read_db: ReadModelDatabase, page_size: int
) -> None:
    identify(ledger, "Gare")
    catch_up(ledger, read_db)
    live = live_tables(read_db)
    reuse = reuse_a_commitment_id(ledger)

    with pytest.raises(UnappliableEventError) as raised:
        rebuild(ledger, read_db, page_size=page_size)

    assert raised.value.position == reuse.position
    assert str(reuse.commitment_id) in raised.value.reason
    assert str(reuse.first) in raised.value.reason
    assert live_tables(read_db) == live
    assert all(g.position < reuse.position for g in pending(read_db))


def test_a_rebuild_stops_at_an_event_for_a_commitment_never_granted(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    commitment_id, position = disburse_an_unknown_commitment(ledger)

    with pytest.raises(UnappliableEventError) as raised:
        rebuild(ledger, read_db, "projects")

    assert raised.value.position == position
    assert str(commitment_id) in raised.value.reason


def test_funding_rebuild_names_the_unappliable_event_and_exits_1_without_a_traceback(
    ledger: Ledger,
    read_db: ReadModelDatabase,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identify(ledger, "Gare")
    catch_up(ledger, read_db)
    live = live_tables(read_db)
    reuse = reuse_a_commitment_id(ledger)
    monkeypatch.setenv("FUNDING_DATABASE_URL", store_url)
    monkeypatch.setenv("FUNDING_REPORTING_SCHEMA", reporting_schema_for(store_url))
    monkeypatch.setenv("FUNDING_LOG_FORMAT", "json")

    result = runner.invoke(app, ["rebuild"])

    said = " ".join(result.stderr.split())
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"log position {reuse.position}" in said
    assert str(reuse.commitment_id) in said
    assert "live read models are unchanged" in said
    assert live_tables(read_db) == live
