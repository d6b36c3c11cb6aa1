"""The reference tables of the reporting schema, for BI tools: territories and the labels of
every code the read models hold, and each convention's use of its envelope.

They hold the reference data packaged with the product (no event changes them): created and
filled when the read models' database is opened, filled again when the packaged data changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import Any

from domain.reference import DIRECTORATES, INSTRUMENT_LABELS, PROGRAMMES, THEMES
from domain.reference.territories import Band, TerritoryLevel, load_territories
from projections.sql import Cursor

BAND_LABELS: dict[str, str] = {
    Band.RURAL_SMALL.value: "Moins de 20 000 habitants",
    Band.MEDIUM.value: "De 20 000 à 100 000 habitants",
    Band.LARGE.value: "Plus de 100 000 habitants",
}
# Each label table: its rows (code, label).
LABEL_TABLES: dict[str, dict[str, str]] = {
    "themes": THEMES,
    "programmes": PROGRAMMES,
    "instruments": {i.value: label for i, label in INSTRUMENT_LABELS.items()},
    "bands": BAND_LABELS,
}
TERRITORY_COLUMNS = (
    "code",
    "name",
    "level",
    "parent",
    "parents",
    "region",
    "departement",
    "epci",
    "population",
    "band",
)
ENVELOPES_VIEW = "convention_envelopes"


@cache
def _territory_rows() -> list[tuple[Any, ...]]:
    rows = []
    for t in load_territories():
        rows.append(
            (
                t.code,
                t.name,
                t.level.value,
                t.parent or "",
                json.dumps(list(t.parents)),
                t.at_level(TerritoryLevel.REGION) or "",
                t.at_level(TerritoryLevel.DEPARTEMENT) or "",
                t.at_level(TerritoryLevel.EPCI) or "",
                t.population,
                t.band.value if t.band is not None else "",
            )
        )
    return rows


def _contents() -> dict[str, tuple[Sequence[str], int, Callable[[], list[tuple[Any, ...]]]]]:
    """Each table: its columns, its number of rows and how to make them."""
    tables: dict[str, tuple[Sequence[str], int, Callable[[], list[tuple[Any, ...]]]]] = {
        name: (("code", "label"), len(labels), partial(sorted, labels.items()))
        for name, labels in LABEL_TABLES.items()
    }
    tables["directorates"] = (
        ("code", "label", "regions"),
        len(DIRECTORATES),
        lambda: [(d.code, d.label, json.dumps(sorted(d.regions))) for d in DIRECTORATES.values()],
    )
    tables["territories"] = (TERRITORY_COLUMNS, len(load_territories()), _territory_rows)
    return tables


def _ddl(name: str, columns: Sequence[str]) -> str:
    typed = ", ".join(
        f"{c} {'BIGINT' if c == 'population' else 'TEXT NOT NULL'}"
        + (" PRIMARY KEY" if c == "code" else "")
        for c in columns
    )
    return f"CREATE TABLE IF NOT EXISTS {name} ({typed})"


def fill_reference_tables(cur: Cursor, table: Any, *, territories: bool = True) -> None:
    """Create the reference tables if missing and fill those whose rows differ in number from
    the packaged reference (`table` names a table in the reporting schema). Without
    `territories` (an in-memory database no BI tool reads), that table is left empty."""
    for name, (columns, count, make_rows) in _contents().items():
        if name == "territories" and not territories:
            cur.execute(_ddl(table(name), columns))
            continue
        qualified = table(name)
        cur.execute(_ddl(qualified, columns))
        cur.execute(f"SELECT COUNT(*) FROM {qualified}")  # noqa: S608
        found = cur.fetchone()
        if found is not None and int(found[0]) == count:
            continue
        rows = make_rows()
        cur.execute(f"DELETE FROM {qualified}")  # noqa: S608
        cur.copy_rows(name, columns, rows)
    cur.execute(
        f"CREATE INDEX IF NOT EXISTS {_index_name(table)} ON {table('territories')} (parent)"
    )


def _index_name(table: Any) -> str:
    return str(table("territories_parent")).rpartition(".")[2]


def envelope_view(view: str, t: Callable[[str], str]) -> list[str]:
    """The statements that (re)create the view of each convention's use of its envelope over
    a generation of the `projects` read model (`t` names its tables), as it goes live."""
    over = "CASE WHEN c.envelope IS NOT NULL AND COALESCE(f.net, 0) > c.envelope THEN 1 ELSE 0 END"
    return [
        f"DROP VIEW IF EXISTS {view}",
        f"CREATE VIEW {view} AS SELECT c.convention_id, c.title, "  # noqa: S608
        "c.envelope, COALESCE(f.committed, 0) AS committed, "
        "COALESCE(f.cancelled, 0) AS cancelled, COALESCE(f.net, 0) AS net_committed, "
        "COALESCE(f.disbursed, 0) AS disbursed, "
        "c.envelope - COALESCE(f.net, 0) AS remaining, "
        f"{over} AS over_envelope "
        f"FROM {t('conventions')} c LEFT JOIN ("
        "SELECT l.convention_id, SUM(p.committed) AS committed, SUM(p.cancelled) AS cancelled, "
        "SUM(p.committed - p.cancelled) AS net, SUM(p.disbursed) AS disbursed "
        f"FROM {t('project_conventions')} l JOIN {t('projects')} p "
        "ON p.project_id = l.project_id GROUP BY l.convention_id"
        ") f ON f.convention_id = c.convention_id",
    ]
