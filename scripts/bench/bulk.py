"""Bulk load benchmark on PostgreSQL: `funding demo --size N` beside raw COPY of its rows.

Usage: .venv/bin/python scripts/bench/bulk.py [--size 1m] [--workers N] [--url postgresql://…]

Loads N events with `funding demo --size N` into a fresh schema (wall time, events/s, and
the CPU time of the loading processes per event), then, as the same-run reference, copies
the very rows it wrote with raw binary COPY (no Python in between) into a scratch table of
the same columns and indexes. Prints the machine's load average before and after: on a
shared machine the wall figures move with the neighbours' work.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import os
import resource
import subprocess
import time

import psycopg

from demo.bulk import parse_size

ROOT = Path(__file__).resolve().parents[2]
FUNDING = str(Path(sys.executable).with_name("funding"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1m")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "FUNDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    size = parse_size(args.size)
    base = args.url.partition("?")[0]
    schema = f"bench_bulk_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        env = {
            **os.environ,
            "FUNDING_DATABASE_URL": f"{base}?schema={schema}",
            "FUNDING_REPORTING_SCHEMA": f"{schema}_reporting",
            "FUNDING_LOG_FORMAT": "json",
        }
        command = [FUNDING, "demo", "--size", str(size)]
        if args.workers:
            command += ["--workers", str(args.workers)]
        print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, cwd=ROOT, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"load average after:  {os.getloadavg()[0]:.1f}")
        with psycopg.connect(base, autocommit=True) as conn:
            row = conn.execute(f"SELECT COUNT(*) FROM {schema}.ledger_events").fetchone()
            events = int(row[0]) if row else 0
            conn.execute(
                f"CREATE TABLE {schema}.scratch (LIKE {schema}.ledger_events INCLUDING ALL)"
            )
        print(
            f"funding demo --size {args.size}: {events:,} events in {elapsed:.1f} s = "
            f"{events / elapsed:,.0f} events/s; loader CPU {cpu:.1f} s = "
            f"{cpu / events * 1e6:.0f} µs per event (planning, rules, encoding, COPY client)",
            flush=True,
        )
        columns = "originator_id, originator_version, topic, state"
        copy_started = time.perf_counter()
        # Two sessions: one COPYs the rows out while the other COPYs them in.
        with (
            psycopg.connect(base, autocommit=True) as reading,
            psycopg.connect(base, autocommit=True) as writing,
            reading.cursor().copy(
                f"COPY (SELECT {columns} FROM {schema}.ledger_events) TO STDOUT (FORMAT BINARY)"
            ) as source,
            writing.cursor().copy(
                f"COPY {schema}.scratch ({columns}) FROM STDIN (FORMAT BINARY)"
            ) as sink,
        ):
            for block in source:
                sink.write(block)
        copy_seconds = time.perf_counter() - copy_started
        print(
            f"raw binary COPY of the same {events:,} rows (same columns and indexes): "
            f"{copy_seconds:.1f} s = {events / copy_seconds:,.0f} rows/s; load ÷ raw COPY "
            f"{(events / elapsed) / (events / copy_seconds):.2f}"
        )
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema}_reporting CASCADE")


if __name__ == "__main__":
    main()
