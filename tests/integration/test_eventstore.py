"""The PostgreSQL recorder: connection checks, large batches, outcomes settled after faults."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject, LaunchStudy
from domain.values import Actor
from eventstore.postgres import LedgerPostgresRecorder, PingUnlessRecent, WriteOutcomeUnknownError
from eventstore.settings import library_env

ACTOR = Actor("ops")


def test_pooled_connections_are_pinged_only_after_a_quiet_spell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Conn:
        pings = 0

        def execute(self, query: str) -> None:
            assert query == ""
            self.pings += 1

    now = [100.0]
    monkeypatch.setattr("eventstore.postgres.time.monotonic", lambda: now[0])
    check = PingUnlessRecent(bypass=0.5)
    conn = Conn()
    check(conn)  # never seen: pinged
    now[0] += 0.2
    check(conn)  # used 0.2 s ago: trusted
    now[0] += 0.6
    check(conn)  # quiet for 0.6 s: pinged again
    other = Conn()
    check(other)
    assert (conn.pings, other.pings) == (2, 1)


@pytest.fixture
def pg_ledger(postgres_url: str) -> Any:
    ledger = Ledger(env=library_env(postgres_url))
    yield ledger
    ledger.close()


def _project(ledger: Ledger) -> Any:
    return ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Gare de Lens",
            territory="commune:62498",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 2),
        ),
    ).id


@pytest.mark.postgres
def test_a_postgres_ledger_records_through_the_exactly_once_recorder(pg_ledger: Ledger) -> None:
    pool: Any = getattr(pg_ledger.recorder, "datastore").pool  # noqa: B009

    assert isinstance(pg_ledger.recorder, LedgerPostgresRecorder)
    assert isinstance(pool._check, PingUnlessRecent)
    assert pool.kwargs["keepalives"] == 1
    assert "statement_timeout" in pool.kwargs["options"]
    assert pg_ledger.head_position() == 0


def _study(project_id: UUID) -> LaunchStudy:
    return LaunchStudy(project_id=project_id, amount="1", launched_on=date(2026, 3, 1), subject="s")


@pytest.mark.postgres
@pytest.mark.slow
def test_twenty_thousand_commitments_are_recorded_in_one_transaction(pg_ledger: Ledger) -> None:
    project_id = _project(pg_ledger)

    outcome = pg_ledger.execute_batch(
        ACTOR, [_study(project_id) for _ in range(20_000)], confirm_duplicate=True
    )

    assert outcome.refused == {}
    assert len(pg_ledger.project(project_id).commitments) == 20_000
    # Each commitment's id claim goes with it, in the same transaction.
    assert outcome.position == pg_ledger.head_position() == 1 + 20_000 * 2


class _AnswerLost(LedgerPostgresRecorder):
    """Commits, then loses the answer once: as if the connection dropped after COMMIT."""

    lost = 0

    def _commit(self, curs: Any) -> None:
        super()._commit(curs)
        if _AnswerLost.lost == 0:
            _AnswerLost.lost += 1
            raise psycopg.OperationalError("server closed the connection unexpectedly")


@pytest.mark.postgres
def test_a_commit_whose_answer_is_lost_is_settled_not_repeated(postgres_url: str) -> None:
    env = library_env(postgres_url)
    env["APPLICATION_RECORDER_TOPIC"] = f"{__name__}:_AnswerLost"
    ledger = Ledger(env=env)
    try:
        project_id = _project(ledger)
        loan = ledger.execute(
            ACTOR,
            GrantLoan(
                project_id=project_id, amount="100", granted_on=date(2024, 2, 1), duration_months=12
            ),
        )
        assert _AnswerLost.lost == 1

        events = ledger.project_events(project_id)
    finally:
        ledger.close()

    assert [e.type for e in events] == ["ProjectIdentified", "LoanGranted"]
    assert loan.version == 2
    assert loan.position == events[-1].position


class _SilentAfterCommit(LedgerPostgresRecorder):
    """Commits, loses the answer, and then the store answers nothing more."""

    def _commit(self, curs: Any) -> None:
        super()._commit(curs)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    def _stored_ids(self, stored_events: Any) -> list[int] | None:  # noqa: ARG002
        raise OperationalError("connection refused")


@pytest.mark.postgres
def test_a_write_whose_outcome_cannot_be_settled_is_never_called_unrecorded(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventstore.postgres.CALL_BUDGET_SECONDS", 0.5)
    ledger = Ledger(env=library_env(postgres_url))
    env = library_env(postgres_url)
    env["APPLICATION_RECORDER_TOPIC"] = f"{__name__}:_SilentAfterCommit"
    silent = Ledger(env=env)
    try:
        project_id = _project(ledger)

        with pytest.raises(WriteOutcomeUnknownError):
            silent.execute(
                ACTOR,
                GrantLoan(
                    project_id=project_id,
                    amount="100",
                    granted_on=date(2024, 2, 1),
                    duration_months=12,
                ),
            )

        # It was in fact recorded: the answer said it might be.
        assert [e.type for e in ledger.project_events(project_id)][-1] == "LoanGranted"
    finally:
        silent.close()
        ledger.close()


@pytest.mark.postgres
def test_a_subscription_waits_past_the_deadline_and_still_receives_a_later_event(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every database call gets 0.3 s; the subscription's idle connection is checked often.
    monkeypatch.setattr("eventstore.postgres.STATEMENT_SECONDS", 0.3)
    monkeypatch.setattr("eventstore.subscription.STATEMENT_SECONDS", 0.3)
    monkeypatch.setattr("eventstore.subscription.LISTEN_CHECK_SECONDS", 0.1)
    first = _project(pg_ledger)
    with pg_ledger.recorder.subscribe() as subscription:
        assert UUID(str(next(subscription).originator_id)) == first
        # Nothing is recorded for over three deadlines, then one event more, which the
        # subscription waits for (and is stopped if it never comes).
        later = threading.Timer(1.0, _project, (pg_ledger,))
        give_up = threading.Timer(15.0, subscription.stop)
        later.start()
        give_up.start()
        try:
            notification = next(subscription, None)
        finally:
            give_up.cancel()
            later.join()

    assert notification is not None
    assert notification.topic.endswith("ProjectIdentified")
    assert UUID(str(notification.originator_id)) != first
