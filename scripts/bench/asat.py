"""As-at reports benchmark on PostgreSQL: the log replayed up to an instant, against a rebuild.

Usage: .venv/bin/python scripts/bench/asat.py [--events 1000000] [--url postgresql://…]

Loads a deterministic ledger into a schema of its own (reused when already loaded), then
measures in the same run, each in a process of its own (events/s, the process's peak RSS):
(a) `funding rebuild` of every read model, the reference, and of `totals` alone;
(b) `funding report --as-at <now>` over the whole log;
(c) `funding report --as-at <the 1/5 mark>` over the first fifth of it: its peak RSS beside
(b)'s shows whether the report's memory stays flat as the log grows.
`run(events, database_url)` returns the same figures as a dict (for scripts/bench/audit.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import the project's packages from the repository (as the other benchmarks do).
sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from demo import generate
from domain.application import Ledger
from domain.outcomes import recorded_at
from eventstore.settings import library_env

ROOT = Path(__file__).resolve().parents[2]
REPORTING_SCHEMA = "bench_asat_reporting"
GROUP_BY = "region,theme"
# The bar: an as-at report over the whole log at this share of the full rebuild's rate.
BAR = 0.8


def load(url: str, events: int) -> int:
    """Load `events` synthetic events into the store unless it holds them; return the head."""
    ledger = Ledger(env=library_env(url))
    try:
        head = ledger.head_position()
        if head < events:
            if head:
                raise SystemExit(f"the bench schema holds {head} events: drop it to load {events}")
            started = time.perf_counter()
            head = generate(
                ledger,
                events,
                seed=2026,
                progress=lambda n: print(f"\r  loading {n:,} events", end="", flush=True),
            )
            elapsed = time.perf_counter() - started
            print(f"\r  loaded {head:,} events in {elapsed:.0f} s ({head / elapsed:,.0f} events/s)")
        return head
    finally:
        ledger.close()


def _recorded_at(url: str, position: int) -> datetime:
    """When the event at a log position was recorded."""
    ledger = Ledger(env=library_env(url))
    try:
        (notification,) = ledger.recorder.select_notifications(start=position, limit=1)
        return recorded_at(ledger.mapper.to_domain_event(notification))
    finally:
        ledger.close()


def _funding(url: str, *args: str) -> tuple[float, float, str]:
    """Run a `funding` command in a process of its own: (seconds, peak RSS in MiB, stdout)."""
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": url,
        "FUNDING_REPORTING_SCHEMA": REPORTING_SCHEMA,
        "FUNDING_LOG_FORMAT": "json",
        "FUNDING_LOG_LEVEL": "WARNING",
        "FUNDING_TOTALS_MAX_ROWS": "100000",
    }
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    output = child.stdout.read().decode() if child.stdout is not None else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"funding {' '.join(args)} exited {child.returncode}")
    return elapsed, usage.ru_maxrss / 1024, output


def run(events: int, database_url: str) -> dict[str, Any]:
    """Load (or reuse) a log of `events` events beside `database_url` and measure; the figures."""
    base = database_url.partition("?")[0]
    schema = f"bench_asat_events_{events}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"DROP SCHEMA IF EXISTS {REPORTING_SCHEMA} CASCADE")
    url = f"{base}?schema={schema}"
    head = load(url, events)
    rebuild_s, rebuild_rss, _ = _funding(url, "rebuild")
    totals_s, totals_rss, _ = _funding(url, "rebuild", "totals")
    now = datetime.now(UTC).isoformat()
    report_s, report_rss, answer = _funding(url, "report", "--as-at", now, "--group-by", GROUP_BY)
    whole = _report_cut(answer)
    fifth_at = _recorded_at(url, max(1, head // 5)).isoformat()
    fifth_s, fifth_rss, fifth_answer = _funding(
        url, "report", "--as-at", fifth_at, "--group-by", GROUP_BY
    )
    fifth = _report_cut(fifth_answer)
    return {
        "events": head,
        "rebuild_events_per_s": head / rebuild_s,
        "rebuild_s": rebuild_s,
        "rebuild_rss_mib": rebuild_rss,
        "rebuild_totals_events_per_s": head / totals_s,
        "rebuild_totals_s": totals_s,
        "rebuild_totals_rss_mib": totals_rss,
        "report_events_per_s": whole["tree_size"] / report_s,
        "report_s": report_s,
        "report_rss_mib": report_rss,
        "report_tree_size": whole["tree_size"],
        "report_vs_rebuild": (whole["tree_size"] / report_s) / (head / rebuild_s),
        "fifth_tree_size": fifth["tree_size"],
        "fifth_events_per_s": fifth["tree_size"] / fifth_s,
        "fifth_s": fifth_s,
        "fifth_rss_mib": fifth_rss,
    }


def _report_cut(answer: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(answer)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "FUNDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}")
    print_figures(run(args.events, args.url))


def print_figures(f: dict[str, Any]) -> None:
    """Print the figures `run` measured beside their same-run references."""
    print(f"\nevents in the log:                  {f['events']:,}")
    print(
        f"(a) full rebuild (both models):      {f['rebuild_events_per_s']:,.0f} events/s "
        f"in {f['rebuild_s']:.1f} s, peak RSS {f['rebuild_rss_mib']:.0f} MiB"
    )
    print(
        f"    rebuild of totals alone:         {f['rebuild_totals_events_per_s']:,.0f} events/s "
        f"in {f['rebuild_totals_s']:.1f} s, peak RSS {f['rebuild_totals_rss_mib']:.0f} MiB"
    )
    print(
        f"(b) as-at report, whole log:         {f['report_events_per_s']:,.0f} events/s "
        f"({f['report_tree_size']:,} events in {f['report_s']:.1f} s), "
        f"peak RSS {f['report_rss_mib']:.0f} MiB"
    )
    verdict = "met" if f["report_vs_rebuild"] >= BAR else "NOT met"
    ratio = f["report_vs_rebuild"]
    print(f"    report / full rebuild:           {ratio:.2f}x (bar {BAR}x: {verdict})")
    print(
        f"(c) as-at report, first fifth:       {f['fifth_events_per_s']:,.0f} events/s "
        f"({f['fifth_tree_size']:,} events in {f['fifth_s']:.1f} s), "
        f"peak RSS {f['fifth_rss_mib']:.0f} MiB"
    )
    print(f"    peak RSS, whole log / first fifth: {f['report_rss_mib'] / f['fifth_rss_mib']:.2f}x")


if __name__ == "__main__":
    main()
