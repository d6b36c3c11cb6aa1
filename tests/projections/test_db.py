"""The read models' database helpers, on every kind of store."""

from __future__ import annotations

import pytest

from projections.db import ReadModelDatabase
from projections.sql import FEW_ROWS


@pytest.mark.parametrize("count", [1, FEW_ROWS, FEW_ROWS + 1, 3 * FEW_ROWS])
def test_add_rows_adds_to_existing_keys_and_creates_the_missing_ones(
    read_db: ReadModelDatabase, count: int
) -> None:
    table = read_db.table("sums_test")
    with read_db.transaction() as cur:
        cur.execute(
            f"CREATE TABLE {table} (region TEXT NOT NULL, year INTEGER NOT NULL, "
            "amount BIGINT NOT NULL, items BIGINT NOT NULL, PRIMARY KEY (region, year))"
        )
        # Half the keys exist beforehand.
        cur.add_rows(
            "sums_test",
            ("region", "year"),
            ("amount", "items"),
            [(f"r{i}", 2024, 10**12 + i, 1) for i in range(0, count, 2)],
        )
    with read_db.transaction() as cur:
        cur.add_rows(
            "sums_test",
            ("region", "year"),
            ("amount", "items"),
            [(f"r{i}", 2024, -i, 2) for i in range(count)],
        )
    with read_db.transaction(readonly=True) as cur:
        cur.execute(f"SELECT region, amount, items FROM {table}")  # noqa: S608
        found = {row[0]: (int(row[1]), int(row[2])) for row in cur.fetchall()}
    expected = {f"r{i}": (10**12 + i - i, 3) if i % 2 == 0 else (-i, 2) for i in range(count)}
    assert found == expected
