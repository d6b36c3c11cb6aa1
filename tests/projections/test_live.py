"""Read-model states followed in memory: notified by the projector, polled when a notice is lost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.application import Ledger
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.generations import read_live_position
from projections.live import LiveStates
from projections.registry import TOTALS
from projections.sql import Dialect
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for
from tests.projections.test_catch_up import record_history


@pytest.fixture
def states(read_db: ReadModelDatabase) -> Iterator[LiveStates]:
    followed = LiveStates(read_db, poll_interval=30)
    yield followed
    followed.stop()


def database_state(db: ReadModelDatabase) -> tuple[int, int]:
    with db.statement() as cur:
        return read_live_position(db, cur, TOTALS)


def test_a_page_applied_is_known_without_a_query(
    ledger: Ledger, read_db: ReadModelDatabase, states: LiveStates
) -> None:
    catch_up(ledger, read_db)
    if read_db.dialect is not Dialect.POSTGRES:
        # SQLite has no notifications: callers read the tracking table themselves.
        assert states.current(TOTALS) is None
        return
    first = states.wait_for(TOTALS, database_state(read_db)[1], timeout=10)
    assert first == database_state(read_db)
    record_history(ledger, projects=1)
    head = catch_up(ledger, read_db)
    # Polling is every 30 s here: only the projector's notification can bring this in time.
    assert states.wait_for(TOTALS, head, timeout=10) == database_state(read_db)
    assert database_state(read_db)[1] == head


@pytest.mark.postgres
def test_a_lost_notification_is_made_up_by_polling(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = reporting_schema_for(postgres_url)
    reader = ReadModelDatabase.from_url(postgres_url, reporting_schema=schema)
    writer = ReadModelDatabase.from_url(postgres_url, reporting_schema=schema)
    ledger = Ledger(env=library_env(postgres_url))
    followed = LiveStates(reader, poll_interval=0.2)
    try:
        catch_up(ledger, writer)
        assert followed.wait_for(TOTALS, database_state(writer)[1], timeout=10) is not None
        monkeypatch.setattr(writer, "notify_moved", lambda _cur: None)
        record_history(ledger, projects=1)
        head = catch_up(ledger, writer)
        state = followed.wait_for(TOTALS, head, timeout=10)
        assert state is not None
        assert state[1] == head
    finally:
        followed.stop()
        ledger.close()
        reader.close()
        writer.close()
        drop_reporting_schema(postgres_url, schema)
