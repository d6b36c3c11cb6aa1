"""The reporting schema's reference tables (territories, labels) and each convention's use of
its envelope, for BI tools, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject, LinkToConvention, SignConvention
from domain.reference import DIRECTORATES, THEMES
from domain.reference.territories import load_territories
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A file or PostgreSQL store (an in-memory one has no territories table rows)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _rows(
    db: ReadModelDatabase, columns: str, table: str, where: str = "", *params: object
) -> list[tuple[Any, ...]]:
    with db.transaction(readonly=True) as cur:
        cur.execute(f"SELECT {columns} FROM {db.table(table)} {where}", params)  # noqa: S608
        return cur.fetchall()


def test_the_territories_table_holds_every_territory_with_its_parents(
    read_db: ReadModelDatabase,
) -> None:
    lens = _rows(
        read_db,
        "name, level, parent, parents, region, departement, epci, population, band",
        "territories",
        "WHERE code = ?",
        "commune:62498",
    )
    count = _rows(read_db, "COUNT(*)", "territories")

    name, level, parent, parents, region, departement, epci, population, band = lens[0]
    assert (name, level, parent) == ("Lens", "commune", "epci:246200364")
    assert json.loads(str(parents)) == ["epci:246200364", "departement:62", "region:32"]
    assert (region, departement, epci) == ("region:32", "departement:62", "epci:246200364")
    assert population == load_territories().get("commune:62498").population
    assert band == "medium"
    assert count[0][0] == len(load_territories())


def test_the_label_tables_hold_every_code_with_its_label(read_db: ReadModelDatabase) -> None:
    themes = dict(_rows(read_db, "code, label", "themes"))
    directorates = _rows(read_db, "code, label", "directorates", "ORDER BY code")
    instruments = dict(_rows(read_db, "code, label", "instruments"))

    assert themes == THEMES
    assert dict(directorates) == {code: d.label for code, d in DIRECTORATES.items()}
    assert instruments["loan"] == "Prêt"


def test_reopening_the_database_keeps_the_tables_filled_once(
    read_db: ReadModelDatabase, store_url: str
) -> None:
    again = ReadModelDatabase.from_url(store_url, read_db.reporting_schema)
    try:
        count = _rows(again, "COUNT(*)", "territories")
    finally:
        again.close()

    assert count[0][0] == len(load_territories())


def test_the_envelope_view_shows_each_convention_use_of_its_envelope(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    convention = ledger.execute(
        ACTOR,
        SignConvention(
            title="Lens mobilités",
            directorate="hauts_de_france",
            signatories=["commune:62498"],
            themes=["mobility"],
            signed_on=date(2023, 1, 1),
            envelope=Decimal("1000000"),
        ),
    ).id
    for name, amount in (("Tramway", "600000"), ("Gare", "500000")):
        project = ledger.execute(
            ACTOR,
            IdentifyProject(
                name=name,
                territory="commune:62498",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2024, 1, 10),
            ),
        ).id
        ledger.execute(ACTOR, LinkToConvention(project_id=project, convention_id=convention))
        ledger.execute(
            ACTOR,
            GrantLoan(
                project_id=project, amount=amount, granted_on=date(2024, 3, 1), duration_months=60
            ),
        )
    catch_up(ledger, read_db)

    found = _rows(
        read_db,
        "envelope, net_committed, disbursed, remaining, over_envelope",
        "convention_envelopes",
        "WHERE convention_id = ?",
        str(convention),
    )

    assert [tuple(int(v) for v in row) for row in found] == [
        (100_000_000, 110_000_000, 0, -10_000_000, 1)
    ]
