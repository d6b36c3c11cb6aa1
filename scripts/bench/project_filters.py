"""The projects list's instrument and period filters on a bulk demo log, with and without
their index.

Usage: .venv/bin/python scripts/bench/project_filters.py [--size 100k] [--repeat 20]
Loads about `--size` events of demo data into a fresh SQLite file, rebuilds the read models
in bulk, then times pages of 50 projects (median and range, ms, in-process) for each filter:
the same run's reference is the unfiltered page and the page filtered by theme alone. The
same pages are then timed with the `projects_commitments` index dropped, to show what it buys.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import statistics
import tempfile
import time
from datetime import date
from typing import Any

from demo.bulk import load_bulk, parse_size
from domain.application import Ledger
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.generations import live_generation
from projections.layout import generation_table
from projections.projects.queries import list_projects
from projections.rebuild import rebuild

CASES: list[tuple[str, dict[str, str], date | None, date | None]] = [
    ("reference: no filter", {}, None, None),
    ("reference: theme=mobility", {"theme": "mobility"}, None, None),
    ("instrument=loan", {"instrument": "loan"}, None, None),
    ("instrument=equity", {"instrument": "equity"}, None, None),
    ("from/to one year", {}, date(2024, 1, 1), date(2024, 12, 31)),
    ("equity, one month", {"instrument": "equity"}, date(2024, 3, 1), date(2024, 3, 31)),
    (
        "equity, one month, region:32",
        {"instrument": "equity", "territory": "region:32"},
        date(2024, 3, 1),
        date(2024, 3, 31),
    ),
]


def timed(db: ReadModelDatabase, repeat: int, case: tuple[Any, ...]) -> tuple[list[float], int]:
    _, filters, after, before = case
    spent = []
    found = 0
    for _ in range(repeat):
        started = time.perf_counter()
        page = list_projects(db, filters, 50, date_from=after, date_to=before)
        spent.append((time.perf_counter() - started) * 1000)
        found = len(page.items)
    return spent, found


def describe(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="100k")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        ledger = Ledger(env=library_env(url))
        db = ReadModelDatabase.from_url(url)
        try:
            report = load_bulk(ledger, parse_size(args.size))
            started = time.perf_counter()
            rebuild(ledger, db)
            print(
                f"{report.events:,} events, {report.projects:,} projects, "
                f"{report.commitments:,} commitments; rebuilt in "
                f"{time.perf_counter() - started:.1f} s"
            )
            with_index = [timed(db, args.repeat, case) for case in CASES]
            generation = live_generation(db, "projects") or 0
            name = generation_table("projects_commitments", generation)
            with db.transaction() as cur:
                cur.execute(f"DROP INDEX {db.table(name)}_project_id_instrument_committed_on")
            without = [timed(db, args.repeat, case) for case in CASES]
            print("| page of 50 | projects found | with the index, ms | without it, ms |")
            print("|---|---:|---:|---:|")
            for case, (kept, found), (dropped, _) in zip(CASES, with_index, without, strict=True):
                print(f"| {case[0]} | {found} | {describe(kept)} | {describe(dropped)} |")
        finally:
            db.close()
            ledger.close()


if __name__ == "__main__":
    main()
