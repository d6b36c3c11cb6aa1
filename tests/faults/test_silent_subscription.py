"""A subscription whose connection goes silent fails soon instead of waiting for ever."""

from __future__ import annotations

import threading
import time

import pytest
from eventsourcing.persistence import OperationalError

from domain.application import Ledger
from eventstore.settings import library_env
from eventstore.subscription import LedgerPostgresSubscription
from tests.faults.relay import Relay

pytestmark = pytest.mark.postgres


def test_a_subscription_whose_connection_goes_silent_fails_within_its_deadline(
    postgres_url: str, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventstore.postgres.STATEMENT_SECONDS", 0.5)
    monkeypatch.setattr("eventstore.subscription.STATEMENT_SECONDS", 0.5)
    monkeypatch.setattr("eventstore.subscription.LISTEN_CHECK_SECONDS", 0.2)
    ledger = Ledger(env=library_env(relay.url(postgres_url)))
    try:
        with ledger.recorder.subscribe() as subscription:
            assert isinstance(subscription, LedgerPostgresSubscription)
            assert subscription.listening.wait(10), "the subscription never listened"
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
