"""A subscription whose connection goes silent fails soon instead of waiting for ever."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from domain.application import Ledger
from eventstore.settings import library_env
from tests.faults.relay import Relay

pytestmark = pytest.mark.postgres


def _listening_through(relay: Relay, postgres_url: str) -> bool:
    """Whether a session reached through the relay has sent its LISTEN."""
    ports = [pair.server.getsockname()[1] for pair in list(relay._pairs)]
    with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %%' "
            "AND client_port = ANY(%s)",
            (ports,),
        ).fetchone()
    return bool(row and row[0])


def test_a_subscription_whose_connection_goes_silent_fails_within_its_deadline(
    postgres_url: str, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventstore.postgres.STATEMENT_SECONDS", 0.5)
    monkeypatch.setattr("eventstore.subscription.STATEMENT_SECONDS", 0.5)
    monkeypatch.setattr("eventstore.subscription.LISTEN_CHECK_SECONDS", 0.2)
    ledger = Ledger(env=library_env(relay.url(postgres_url)))
    try:
        with ledger.recorder.subscribe() as subscription:
            deadline = time.monotonic() + 10
            while not _listening_through(relay, postgres_url):
                assert time.monotonic() < deadline, "the subscription never listened"
                time.sleep(0.05)
            relay.partition()
            give_up = threading.Timer(15.0, subscription.stop)
            give_up.start()
            started = time.monotonic()
            try:
                with pytest.raises(OperationalError):
                    next(subscription)
            finally:
                give_up.cancel()
            assert time.monotonic() - started < 5
    finally:
        relay.heal()
        ledger.close()
