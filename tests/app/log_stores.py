"""Stores for the log's export tests: a small history on SQLite or PostgreSQL, exported."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.exports.log import Snapshot, ndjson_chunks
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.commands import (
    CancelCommitment,
    CorrectCommitmentAmount,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    RecordRepayment,
)
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.sql import Dialect
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for

HDF = Actor(name="dr-hdf", directorate="hauts_de_france", correlation_id="c-1")
GROUPINGS = ["", "theme", "region,instrument", "directorate,year"]


@dataclass
class Store:
    """A ledger and its read models on one store, and the token of its admin."""

    url: str
    schema: str
    ledger: Ledger
    read_models: ReadModelDatabase

    def totals(self, token: str) -> list[dict[str, Any]]:
        settings = Settings(database_url=self.url, reporting_schema=self.schema)
        app = create_app(settings, self.ledger, self.read_models)
        with TestClient(app) as client:
            answers = [
                client.get(
                    "/v1/totals",
                    params={"group_by": grouping},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for grouping in GROUPINGS
            ]
        assert all(a.status_code == 200 for a in answers)
        return [{k: v for k, v in a.json().items() if k != "position"} for a in answers]


StoreFactory = Callable[[str], Store]


def open_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens empty stores of a kind (sqlite, postgres); closes and drops them afterwards."""
    opened: list[Store] = []

    def open_store(kind: str) -> Store:
        if kind == "sqlite":
            url, schema = f"sqlite:///{tmp_path / f'ledger-{len(opened)}.sqlite3'}", "reporting"
        else:
            url = request.getfixturevalue("postgres_url")
            if any(s.url == url for s in opened):  # a second PostgreSQL store: its own schema
                url = another_schema(url, len(opened))
            schema = reporting_schema_for(url)
        store = Store(
            url, schema, Ledger(env=library_env(url)), ReadModelDatabase.from_url(url, schema)
        )
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.read_models.close()
        store.ledger.close()
        if store.read_models.dialect is Dialect.POSTGRES:
            drop_reporting_schema(store.url, store.schema)
            base, _, query = store.url.partition("?")
            events_schema = query.partition("schema=")[2]
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{events_schema}" CASCADE')


def another_schema(url: str, n: int) -> str:
    base, _, query = url.partition("?")
    schema = f"{query.partition('schema=')[2]}_{n}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{base}?schema={schema}"


def history(store: Store) -> str:
    """Projects, money moved and corrected, a token; on PostgreSQL with a gap in positions.
    Returns the admin token."""
    ledger = store.ledger
    token, _ = create_token(ledger, name="admin", role=Role.ADMIN)
    for n in range(3):
        project = ledger.execute(
            HDF,
            IdentifyProject(
                name=f'=HYPERLINK("x") Tramway {n}',
                territory="commune:59650",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2024, 1, 2),
            ),
        ).id
        loan = ledger.execute(
            HDF,
            GrantLoan(
                project_id=project,
                amount="1000000.50",
                granted_on=date(2024, 3, 1),
                duration_months=60,
            ),
        ).commitment_id
        assert loan is not None
        if store.read_models.dialect is Dialect.POSTGRES:
            consume_positions(store, 3)
        ledger.execute(
            HDF,
            Disburse(
                project_id=project,
                commitment_id=loan,
                amount="400000",
                disbursed_on=date(2024, 4, 1),
            ),
        )
        ledger.execute(
            HDF,
            RecordRepayment(
                project_id=project, commitment_id=loan, principal="1000", repaid_on=date(2024, 6, 1)
            ),
        )
        ledger.execute(
            HDF,
            CancelCommitment(
                project_id=project,
                commitment_id=loan,
                amount="100",
                cancelled_on=date(2024, 7, 1),
                reason="écart",
            ),
        )
        ledger.execute(
            HDF,
            CorrectCommitmentAmount(
                project_id=project,
                commitment_id=loan,
                amount="900000",
                reason="=1+2 erreur de saisie",
            ),
        )
        ledger.execute(
            HDF, InvestEquity(project_id=project, amount="250000", invested_on=date(2024, 5, 1))
        )
    catch_up(ledger, store.read_models)
    return token


def consume_positions(store: Store, count: int) -> None:
    # As a rolled-back transaction does: positions taken and never used.
    recorder: Any = store.ledger.recorder
    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    with psycopg.connect(store.url.partition("?")[0], autocommit=True) as conn:
        for _ in range(count):
            conn.execute("SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))", (table,))


def export_ndjson(store: Store, ring: Any = None) -> bytes:
    return b"".join(ndjson_chunks(store.ledger, Snapshot.now(store.ledger), ring))


def lines_of(export: bytes) -> list[bytes]:
    """The lines of an export, newlines kept."""
    return export.splitlines(keepends=True)


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
