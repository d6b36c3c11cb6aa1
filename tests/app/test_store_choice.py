"""The settings choose the store: the ledger's recorder, saves by group commit, or a refusal."""

from __future__ import annotations

from datetime import date

import pytest

from domain.application import Ledger
from domain.commands import IdentifyProject
from domain.positions import EventPositions
from domain.values import Actor
from eventstore.group_commit import GroupCommit
from eventstore.settings import library_env

NORD = Actor("dr-hdf", "hauts_de_france")


def test_each_store_saves_by_group_commit_through_the_ledgers_recorder(ledger: Ledger) -> None:
    written = ledger.execute(
        NORD,
        IdentifyProject(
            name="Tramway de Wattrelos",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 2),
        ),
    )

    assert isinstance(ledger.events.recorder, GroupCommit)
    assert ledger.events.recorder.recorder is ledger.recorder
    assert isinstance(ledger.recorder, EventPositions)
    assert ledger.positions.event_positions(written.id) == {1: written.position}


def test_a_store_that_cannot_tell_positions_is_refused() -> None:
    with pytest.raises(TypeError, match="has no event_positions"):
        Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.mark.parametrize(
    ("url", "factory"),
    [
        ("memory://", "eventstore.memory:LedgerPOPOFactory"),
        ("sqlite:///var/ledger.sqlite3", "eventstore.sqlite:LedgerSQLiteFactory"),
        ("postgresql://funding@db/ledger", "eventstore.postgres:LedgerPostgresFactory"),
    ],
)
def test_the_settings_name_each_stores_factory(url: str, factory: str) -> None:
    assert library_env(url)["PERSISTENCE_MODULE"] == factory
