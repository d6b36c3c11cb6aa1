"""A store written by older code (no commitment id claims) loads, projects and takes writes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.utils import resolve_topic

from api.tokens import Principal, TokenInfo, authenticate, list_tokens, revoke_token
from domain.application import Ledger
from domain.commands import GrantLoan
from domain.tokens import AccessToken, Role
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.rebuild import rebuild
from projections.totals.queries import totals

# Written by the code of 2026-11 (commit 26a2f2e): every kind of project event, a
# convention, an indicator and a token.
FIXTURE = Path(__file__).parents[1] / "fixtures" / "store-2026-11.sqlite3"
PROJECT = UUID("193c4dc6-bd7a-4d73-8339-c85d879c8805")
LOAN = UUID("37d4a930-5de6-44ac-833d-4bc6154b4276")
NORD = Actor("dr-hdf", "hauts_de_france")
# The token "ops" (admin), issued when the class was still api.tokens:AccessToken.
TOKEN = UUID("5c79fbd7-b88e-5edb-b082-917e929989cb")
TOKEN_HASH = "28096ad13ac61b89ebb555a0e8ce278960ba3b94160c03554c1a6305ec51e162"  # noqa: S105


@pytest.fixture
def url(tmp_path: Path) -> str:
    copy = tmp_path / "ledger.sqlite3"
    shutil.copy(FIXTURE, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    app = Ledger(env=library_env(url))
    yield app
    app.close()


def test_an_older_store_replays_every_event(ledger: Ledger) -> None:
    project = ledger.project(PROJECT)
    events = ledger.project_events(PROJECT)

    assert project.name == "Tramway Wattrelos–Roubaix"
    assert project.commitments[LOAN].amount == Decimal("1000000.00")
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert ledger.head_position() == 16


def test_an_older_store_takes_new_writes_with_their_claims(ledger: Ledger) -> None:
    written = ledger.execute(
        NORD,
        GrantLoan(
            project_id=PROJECT, amount="5000.00", granted_on=date(2025, 2, 1), duration_months=12
        ),
    )

    assert written.version == ledger.project(PROJECT).version
    assert ledger.head_position() == 18  # the loan and its commitment id's claim


def test_an_older_store_rebuilds_its_read_models(ledger: Ledger, url: str) -> None:
    db = ReadModelDatabase.from_url(url)
    try:
        rebuild(ledger, db)
        answer = totals(db)
    finally:
        db.close()

    committed = sum(c.amount for c in ledger.project(PROJECT).commitments.values())
    assert Decimal(answer.total["committed"]) == committed
    assert answer.position == 16


def test_an_older_store_still_knows_its_token_after_the_class_moved(ledger: Ledger) -> None:
    assert resolve_topic("api.tokens:AccessToken.TokenIssued") is AccessToken.TokenIssued
    assert resolve_topic("api.tokens:AccessToken.TokenRevoked") is AccessToken.TokenRevoked
    [stored] = ledger.recorder.select_events(TOKEN)
    assert stored.topic == "api.tokens:AccessToken.TokenIssued"

    record: object = ledger.repository.get(TOKEN)
    [listed] = list_tokens(ledger)

    assert isinstance(record, AccessToken)
    assert (record.name, record.role, record.revoked) == ("ops", Role.ADMIN, False)
    assert listed == TokenInfo(TOKEN, "ops", Role.ADMIN, None, revoked=False)


def test_an_older_stores_token_authenticates_until_revoked(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture's secret is not kept: the presented token is taken to hash as it did.
    monkeypatch.setattr("api.tokens.hash_token", lambda _presented: TOKEN_HASH)

    principal = authenticate(ledger, "ft_the-secret-of-2026-11")
    [revoked] = revoke_token(ledger, "ops")

    assert principal == Principal("ops", Role.ADMIN, None, TOKEN)
    assert revoked.id == TOKEN
    assert [e.topic for e in ledger.recorder.select_events(TOKEN)] == [
        "api.tokens:AccessToken.TokenIssued",
        "domain.tokens:AccessToken.TokenRevoked",
    ]
    assert authenticate(ledger, "ft_the-secret-of-2026-11") is None
    assert [t.revoked for t in list_tokens(ledger)] == [True]
