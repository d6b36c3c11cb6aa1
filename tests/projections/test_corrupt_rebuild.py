"""A damaged event in the log: decoding names it, a rebuild stops on it, the live models stay."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from typer.testing import CliRunner

from api.cli import app
from domain.application import Ledger
from domain.errors import CorruptEventError
from projections.db import ReadModelDatabase
from projections.events import PROJECT_TOPIC
from projections.feed import catch_up, position_of
from projections.notification_log import decode_rows
from projections.rebuild import rebuild
from projections.registry import READ_MODELS
from tests.corruption import damage_event
from tests.projections.conftest import reporting_schema_for
from tests.projections.test_catch_up import record_history
from tests.projections.test_rebuild import live_tables, pending

runner = CliRunner()
LOAN_GRANTED = PROJECT_TOPIC + "LoanGranted"


@dataclass(frozen=True)
class Damage:
    """Where the damaged event sits: its log position, aggregate and version."""

    position: int
    aggregate_id: str
    version: int


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty event store with bytes to damage: SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def damage_second_loan(ledger: Ledger, store_url: str) -> Damage:
    """Damage the bytes of the second loan granted in the log."""
    loan = ledger.recorder.select_notifications(start=1, limit=100, topics=[LOAN_GRANTED])[1]
    damage_event(store_url, loan.id)
    return Damage(loan.id, str(loan.originator_id), loan.originator_version)


def assert_names(error: CorruptEventError, damage: Damage) -> None:
    """The error names the damaged event."""
    assert (error.position, error.originator_id, error.version) == (
        damage.position,
        damage.aggregate_id,
        damage.version,
    )
    assert f"log position {damage.position}" in str(error)


@pytest.mark.parametrize("state", [b"garbage", "garbage", b"[1, 2]", b'{"commitment_id": 7}'])
def test_decoding_a_damaged_state_names_its_position_aggregate_and_version(
    state: bytes | str,
) -> None:
    aggregate_id = str(uuid4())
    rows = [(41, LOAN_GRANTED, aggregate_id, 3, state)]

    with pytest.raises(CorruptEventError) as raised:
        decode_rows(rows)  # type: ignore[arg-type]

    assert_names(raised.value, Damage(41, aggregate_id, 3))
    assert raised.value.reason


def test_catching_up_stops_at_a_damaged_event_naming_it(
    ledger: Ledger, read_db: ReadModelDatabase, store_url: str
) -> None:
    record_history(ledger)
    damage = damage_second_loan(ledger, store_url)

    with pytest.raises(CorruptEventError) as raised:
        catch_up(ledger, read_db, page_size=1)

    assert_names(raised.value, damage)
    assert all(position_of(read_db, rm) == damage.position - 1 for rm in READ_MODELS)


def test_a_rebuild_stops_at_a_damaged_event_and_leaves_the_live_read_models_unchanged(
    ledger: Ledger, read_db: ReadModelDatabase, store_url: str
) -> None:
    record_history(ledger)
    catch_up(ledger, read_db)
    live = live_tables(read_db)
    damage = damage_second_loan(ledger, store_url)

    with pytest.raises(CorruptEventError) as raised:
        rebuild(ledger, read_db, page_size=4)

    assert_names(raised.value, damage)
    assert live_tables(read_db) == live
    assert all(g.position < damage.position for g in pending(read_db))


def test_funding_rebuild_names_the_damaged_event_and_exits_non_zero_without_a_traceback(
    ledger: Ledger,
    read_db: ReadModelDatabase,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record_history(ledger)
    catch_up(ledger, read_db)
    live = live_tables(read_db)
    damage = damage_second_loan(ledger, store_url)
    monkeypatch.setenv("FUNDING_DATABASE_URL", store_url)
    monkeypatch.setenv("FUNDING_REPORTING_SCHEMA", reporting_schema_for(store_url))
    monkeypatch.setenv("FUNDING_LOG_FORMAT", "json")

    result = runner.invoke(app, ["rebuild", "--page-size", "100"])

    said = " ".join(result.stderr.split())
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    where = f"log position {damage.position} (aggregate {damage.aggregate_id}, version 2)"
    assert where in said
    assert "cannot be decoded: " in said
    assert "live read models are unchanged" in said
    assert live_tables(read_db) == live
