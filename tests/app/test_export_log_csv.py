"""The log's CSV export, for a spreadsheet: a row per event, `sep=;` for a French one."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.exports.log import Snapshot, csv_chunks
from eventstore.tree import log_tree
from tests.app.log_stores import Store, StoreFactory, history, open_stores


@pytest.fixture
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens empty stores of a kind (sqlite, postgres); closes and drops them afterwards."""
    yield from open_stores(request, tmp_path)


def _csv_rows(store: Store, sep: str) -> tuple[bytes, list[dict[str, str]]]:
    raw = b"".join(csv_chunks(store.ledger, Snapshot.now(store.ledger), sep))
    text = raw.decode("utf-8-sig")
    return raw, list(csv.DictReader(io.StringIO(text), delimiter=sep))


def test_the_csv_has_a_row_per_event_with_its_leaf_and_filterable_columns(
    stores: StoreFactory,
) -> None:
    original = stores("sqlite")
    history(original)

    raw, rows = _csv_rows(original, ",")

    assert not raw.startswith(b"\xef\xbb\xbf")
    tree = log_tree(original.ledger.recorder)
    assert len(rows) == tree.size()
    loans = [r for r in rows if r["type"] == "LoanGranted"]
    assert [r["amount"] for r in loans] == ["1000000.50"] * 3
    assert {r["effective_date"] for r in loans} == {"2024-03-01"}
    assert {r["actor"] for r in loans} == {"dr-hdf"}
    leaf = tree.leaf(int(loans[0]["position"]))
    assert leaf is not None
    assert loans[0]["leaf_hash"] == leaf.hash.hex()


def test_the_french_csv_has_a_bom_semicolons_decimal_commas_and_no_formula(
    stores: StoreFactory,
) -> None:
    original = stores("sqlite")
    history(original)

    raw, rows = _csv_rows(original, ";")

    assert raw.startswith(b"\xef\xbb\xbf")
    repaid = [r for r in rows if r["type"] == "LoanRepaid"]
    assert {r["amount"] for r in repaid} == {"1000,00"}
    identified = [r for r in rows if r["type"] == "ProjectIdentified"]
    assert all(json.loads(r["data"])["name"].startswith("=HYPERLINK") for r in identified)
    assert all(not cell.startswith("=") for r in rows for cell in r.values())
    corrected = [r for r in rows if r["type"] == "CommitmentAmountCorrected"]
    assert {r["reason"] for r in corrected} == {"'=1+2 erreur de saisie"}
    cancelled = next(r for r in rows if r["type"] == "CommitmentCancelled")
    assert cancelled["reason"] == "écart"
