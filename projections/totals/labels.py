"""The labels beside the codes of totals rows: territory names, vocabulary labels, convention
titles.

Territories and vocabularies come from the reference data held in memory; convention titles
from the `projects` read model, read once per answer (and only when it groups by convention).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from domain.reference import DIRECTORATES, INSTRUMENT_LABELS, PROGRAMMES, THEMES
from domain.reference.territories import TerritoryLevel, load_territories
from projections.db import ReadModelDatabase
from projections.layout import generation_table
from projections.reading import read_snapshot
from projections.reference_tables import BAND_LABELS
from projections.registry import PROJECTS
from projections.sql import Cursor

# The dimensions whose rows carry a label (periods are their own label).
LABELLED = (
    *(level.value for level in TerritoryLevel),
    "band",
    "theme",
    "instrument",
    "programme",
    "directorate",
    "convention",
)
SUFFIX = "_label"


def vocabulary(dimension: str) -> Mapping[str, str]:
    """Return the code → label map of a dimension with a short, fixed vocabulary."""
    if dimension == "theme":
        return THEMES
    if dimension == "programme":
        return PROGRAMMES
    if dimension == "instrument":
        return {code.value: label for code, label in INSTRUMENT_LABELS.items()}
    if dimension == "directorate":
        return {code: d.label for code, d in DIRECTORATES.items()}
    if dimension == "band":
        return BAND_LABELS
    raise KeyError(dimension)


def label_of(dimension: str, code: Any, conventions: Mapping[str, str]) -> str | None:
    """Return the label of a dimension's code (None for a null code or an unknown one)."""
    if code is None:
        return None
    if dimension in (level.value for level in TerritoryLevel):
        territories = load_territories()
        return territories.get(code).name if code in territories else None
    if dimension == "convention":
        return conventions.get(str(code))
    return vocabulary(dimension).get(str(code))


def label_columns(dims: Sequence[str]) -> list[str]:
    """Return the columns of a grouped answer: each dimension, then its label if it has one."""
    columns: list[str] = []
    for dim in dims:
        columns.append(dim)
        if dim in LABELLED:
            columns.append(dim + SUFFIX)
    return columns


def add_labels(
    rows: Iterable[dict[str, Any]], dims: Sequence[str], conventions: Mapping[str, str]
) -> None:
    """Add `<dimension>_label` beside each labelled dimension of each row, in place."""
    labelled = [dim for dim in dims if dim in LABELLED]
    for row in rows:
        for dim in labelled:
            row[dim + SUFFIX] = label_of(dim, row.get(dim), conventions)


def convention_titles(db: ReadModelDatabase) -> dict[str, str]:
    """Return every convention's title by id, from the `projects` read model (one query)."""

    def query(cur: Cursor, generation: int) -> dict[str, str]:
        table = db.table(generation_table("conventions", generation))
        cur.execute(f"SELECT convention_id, title FROM {table}")  # noqa: S608
        return {str(cid): str(title) for cid, title in cur.fetchall()}

    return read_snapshot(db, PROJECTS, query)[0] or {}


def labelled(
    db: ReadModelDatabase, rows: list[dict[str, Any]], dims: Sequence[str]
) -> list[dict[str, Any]]:
    """Return the rows with their labels (convention titles read only when grouped by them)."""
    conventions = convention_titles(db) if "convention" in dims else {}
    add_labels(rows, dims, conventions)
    return rows
