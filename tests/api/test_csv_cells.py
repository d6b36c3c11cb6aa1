"""CSV the API writes: a text cell a spreadsheet would read as a formula is neutralised."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from projections.reading import FIGURES
from projections.totals import queries

ZERO = Decimal("0.00")


def totals_of(labels: list[str]) -> queries.Totals:
    """An answer of one row per label (in the theme column), its committed figure negative."""
    figures: dict[str, Any] = dict.fromkeys(FIGURES, ZERO)
    figures.update(projects=1, commitments=1, leverage=None)
    rows = [{"theme": label, **figures, "committed": Decimal("-5.00")} for label in labels]
    return queries.Totals(rows=rows, total=figures, position=1)


def exported(
    client: TestClient, token: str, monkeypatch: pytest.MonkeyPatch, labels: list[str], sep: str
) -> list[list[str]]:
    """The CSV totals grouped by theme, as a spreadsheet reads its cells, for recorded labels."""
    monkeypatch.setattr(queries, "totals", lambda *_, **__: totals_of(labels))

    response = client.get(
        "/v1/totals",
        params={"group_by": "theme", "format": "csv", "sep": sep},
        headers={"Authorization": token},
    )

    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))


@pytest.mark.parametrize("sep", [",", ";"])
@pytest.mark.parametrize(
    "label", ['=HYPERLINK("http://x")', "+33 1 23", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
)
def test_a_text_cell_that_a_spreadsheet_would_run_is_exported_behind_a_quote(
    client: TestClient,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    label: str,
    sep: str,
) -> None:
    rows = exported(client, tokens["viewer"], monkeypatch, [label], sep)

    assert rows[1][0] == f"'{label}"


def test_a_text_cell_that_is_no_formula_is_exported_as_recorded(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = exported(client, tokens["viewer"], monkeypatch, ["mobility", "a=b", "'quoted"], ",")

    assert [row[0] for row in rows[1:4]] == ["mobility", "a=b", "'quoted"]


def test_a_negative_figure_is_exported_as_a_number(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = exported(client, tokens["viewer"], monkeypatch, ["mobility"], ";")

    # theme, theme_label, committed
    assert rows[1][2] == "-5,00"
