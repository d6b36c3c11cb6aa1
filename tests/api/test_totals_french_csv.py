"""Totals as CSV for French spreadsheets (`sep=;`): UTF-8 with a BOM, `;`, decimal commas, and
the same figures as the JSON answer; without `sep` the CSV stays as it was."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from api.csv_cells import read_number
from domain.application import Ledger
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from tests.api.test_import import post, seed_projects

# A directorate's spreadsheet: imported as French Excel saves it, then read back as totals.
FRENCH_FILE = (
    "project_reference;directorate;instrument;amount;date;duration_months;subject\r\n"
    "HDF-2024-0001;hauts_de_france;loan;1\u00a0234\u00a0567,89;01/03/2024;120;\r\n"
    'HDF-2024-0001;hauts_de_france;study;45 000,50;02/03/2024;;"Étude d’impact ; phase 1"\r\n'
).encode("cp1252")


def totals(client: TestClient, token: str, **params: str) -> Any:
    """GET /v1/totals grouped by instrument."""
    return client.get(
        "/v1/totals", params={"group_by": "instrument", **params}, headers={"Authorization": token}
    )


def imported(
    client: TestClient, tokens: dict[str, str], api_ledger: Ledger, read_models: ReadModelDatabase
) -> None:
    """Import the French file, and bring the read models up to date."""
    seed_projects(api_ledger)
    assert post(client, tokens["admin"], FRENCH_FILE).status_code == 201
    catch_up(api_ledger, read_models)


def test_french_totals_csv_has_a_bom_semicolons_crlf_and_the_json_figures_in_decimal_commas(
    client: TestClient,
    tokens: dict[str, str],
    api_ledger: Ledger,
    read_models: ReadModelDatabase,
) -> None:
    imported(client, tokens, api_ledger, read_models)
    answer = totals(client, tokens["viewer"]).json()

    response = totals(client, tokens["viewer"], format="csv", sep=";")

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    assert text.count("\r\n") == text.count("\n") == 1 + len(answer["rows"]) + 1
    header, *rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    by_instrument = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_instrument["loan"]["committed"] == "1234567,89"
    for expected in answer["rows"]:
        written = by_instrument[expected["instrument"] or ""]
        for figure in ("committed", "net_committed", "to_disburse", "outstanding"):
            number = read_number(written[figure], thousands=True)
            assert number.mark in (",", None)
            assert Decimal(number.text) == Decimal(str(expected[figure]))
        assert int(written["commitments"]) == expected["commitments"]
    total = read_number(by_instrument["total"]["committed"], thousands=True)
    assert Decimal(total.text) == Decimal("1279568.39")


def test_totals_csv_without_sep_stays_comma_separated_with_decimal_points(
    client: TestClient,
    tokens: dict[str, str],
    api_ledger: Ledger,
    read_models: ReadModelDatabase,
) -> None:
    imported(client, tokens, api_ledger, read_models)

    response = totals(client, tokens["viewer"], format="csv")

    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("instrument,instrument_label,committed,cancelled,")
    assert any(line.startswith("loan,Prêt,1234567.89,0.00,1234567.89,") for line in lines)
    assert lines[-1].startswith("total,,1279568.39,")


def test_a_separator_other_than_comma_or_semicolon_is_refused(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = totals(client, tokens["viewer"], format="csv", sep="\t")

    assert response.status_code == 422
