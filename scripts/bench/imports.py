"""Large writes on PostgreSQL: how long a batch holds the event table's lock, and a CLI import.

Usage: .venv/bin/python scripts/bench/imports.py [--sizes 1000,18000,100000] [--url postgresql://…]

For each size, in a schema of its own: (a) one transaction recording that many commitments
through the ledger's recorder (the table lock is held from LOCK TABLE to COMMIT: the time
printed), beside the same-run reference (b) raw COPY of as many rows of the same bytes into
a scratch table; then (c) `funding import` of a CSV of the largest size: wall time and peak
RSS of the process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from domain.application import Ledger
from domain.commands import IdentifyProject, LaunchStudy
from domain.values import Actor
from eventstore.settings import library_env

ACTOR = Actor("bench")


def _schema(base: str) -> tuple[str, str]:
    name = f"bench_import_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return name, f"{base}?schema={name}"


def _drop(base: str, name: str) -> None:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "reporting_{name}" CASCADE')


def _ledger_with_project(url: str) -> tuple[Ledger, uuid.UUID]:
    ledger = Ledger(env=library_env(url))
    project_id = ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Bench",
            territory="region:32",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 1),
        ),
    ).id
    return ledger, project_id


def _study(project_id: uuid.UUID) -> LaunchStudy:
    return LaunchStudy(project_id=project_id, amount="1", launched_on=date(2026, 3, 1), subject="s")


def batch(base: str, size: int) -> tuple[float, float, int]:
    """Seconds the insert held the table lock, seconds of raw COPY, events written."""
    name, url = _schema(base)
    ledger, project_id = _ledger_with_project(url)
    try:
        recorder = ledger.recorder
        insert = recorder.insert_events
        timings: list[tuple[int, float]] = []

        def timed(events: list[object], **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return insert(events, **kwargs)
            finally:
                timings.append((len(events), time.perf_counter() - started))

        recorder.insert_events = timed  # type: ignore[method-assign]
        ledger.execute_batch(
            ACTOR, [_study(project_id) for _ in range(size)], confirm_duplicate=True
        )
        events, held = max(timings)
        with psycopg.connect(base, autocommit=True) as conn:
            table = f'"{name}".ledger_events'
            rows = conn.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {table}"
            ).fetchall()
            conn.execute(
                f'CREATE TABLE "{name}".scratch (originator_id uuid, originator_version bigint, '
                "topic text, state bytea, PRIMARY KEY (originator_id, originator_version))"
            )
            started = time.perf_counter()
            with conn.cursor().copy(
                f'COPY "{name}".scratch (originator_id, originator_version, topic, state) '
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for row in rows:
                    copy.write_row(row)
            copied = time.perf_counter() - started
        return held, copied, events
    finally:
        ledger.close()
        _drop(base, name)


def cli_import(base: str, size: int) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of `funding import` of `size` rows."""
    name, url = _schema(base)
    ledger, project_id = _ledger_with_project(url)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write("project_id,instrument,amount,date,subject\n")
            f.writelines(f"{project_id},study,1,2026-03-01,s\n" for _ in range(size))
        env = {
            **os.environ,
            "FUNDING_DATABASE_URL": url,
            "FUNDING_REPORTING_SCHEMA": f"reporting_{name}",
        }
        funding = str(Path(sys.executable).with_name("funding"))
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", funding, "import", f.name],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - started
        return seconds, int(done.stderr.strip().splitlines()[-1])
    finally:
        ledger.close()
        Path(f.name).unlink(missing_ok=True)
        _drop(base, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sizes", default="1000,18000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'commitments':>12} {'events':>8} {'lock held s':>12} {'raw COPY s':>11} {'ratio':>6}")
    for size in sizes:
        held, copied, events = batch(args.url, size)
        print(f"{size:>12,} {events:>8,} {held:>12.3f} {copied:>11.3f} {held / copied:>6.1f}")
    seconds, rss = cli_import(args.url, max(sizes))
    print(f"funding import of {max(sizes):,} rows: {seconds:.1f} s, peak RSS {rss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
