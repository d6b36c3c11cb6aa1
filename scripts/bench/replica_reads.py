"""Read-model queries per second from a streaming replica, beside the primary's, same run.

Usage: .venv/bin/python scripts/bench/replica_reads.py [--events 200000] [--url postgresql://…]
       [--replica-url postgresql://…] [--clients 2] [--seconds 10] [--rounds 3]

Loads a deterministic ledger into schemas of its own (reused when already loaded), applies it
to the read models on the primary, then starts a streaming replica of the primary
(`pg_basebackup -R`, `pg_ctl`, as the tests do; removed afterwards) unless `--replica-url`
names one, and waits until the replica has replayed the read models. Then the same
read-model queries (totals grouped by a territory level, a page of projects) run from
`--clients` processes for `--seconds`, against the primary and the replica in turn,
`--rounds` times each; the median queries/s of each is printed side by side, with the
replica's lag. `run(...)` returns the figures as a dict.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file's directory holds a module named like the `projections` package: import the
# packages from the repository, as the other benchmarks do.
sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import psycopg

from demo import generate
from domain.application import Ledger
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.projects.queries import list_projects
from projections.replica import replica_positions, replica_status
from projections.totals.queries import totals
from tests.integration.replica_server import StreamingReplica

REPORTING_SCHEMA = "bench_replica_reporting"
DEFAULT_URL = os.environ.get(
    "FUNDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REPLAY_TIMEOUT = 600.0

# The same questions of both databases: name -> query of a read-model database.
QUERIES: dict[str, Callable[[ReadModelDatabase], object]] = {
    "totals group_by=region": lambda db: totals(db, ["region"]),
    "totals group_by=departement territory=region:84": lambda db: totals(
        db, ["departement"], {"territory": "region:84"}
    ),
    "totals group_by=epci territory=region:32": lambda db: totals(
        db, ["epci"], {"territory": "region:32"}
    ),
    "projects page (50) territory=region:32": lambda db: list_projects(
        db, {"territory": "region:32"}, 50
    ),
}


def load(url: str, events: int) -> int:
    """Record the ledger (once) and apply it to the primary's read models; the log head."""
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
            print(f"\r  loaded {head:,} events in {time.perf_counter() - started:.0f} s")
        db = ReadModelDatabase.from_url(url, REPORTING_SCHEMA)
        try:
            catch_up(ledger, db, page_size=20_000)
        finally:
            db.close()
        return head
    finally:
        ledger.close()


def wait_replayed(primary: ReadModelDatabase, replica: ReadModelDatabase) -> float:
    """Wait until the replica's read models are where the primary's are; the seconds waited."""
    target = replica_positions(primary)
    started = time.perf_counter()
    while any(replica_positions(replica)[name] < at for name, at in target.items()):
        if time.perf_counter() - started > REPLAY_TIMEOUT:
            raise SystemExit("the replica did not replay the read models")
        time.sleep(0.05)
    return time.perf_counter() - started


def _client(url: str, replica: bool, query: str, seconds: float) -> float:
    """One client process: run one query in a loop for `seconds`; its queries per second."""
    db = ReadModelDatabase.from_url(url, REPORTING_SCHEMA, pool_size=1, replica=replica)
    try:
        ask = QUERIES[query]
        for _ in range(5):  # warm the connection, the plan and the caches
            ask(db)
        done = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            ask(db)
            done += 1
        return done / elapsed
    finally:
        db.close()


def measure(
    pool: ProcessPoolExecutor, url: str, replica: bool, query: str, clients: int, seconds: float
) -> float:
    """Queries per second of `clients` processes asking one query of one database at once."""
    return sum(pool.map(_client, *zip(*[(url, replica, query, seconds)] * clients, strict=True)))


def run(
    url: str = DEFAULT_URL,
    events: int = 200_000,
    replica_url: str | None = None,
    clients: int = 2,
    seconds: float = 10.0,
    rounds: int = 3,
) -> dict[str, Any]:
    """Load, start (or use) a replica, and measure; the figures by query and database."""
    base = url.partition("?")[0]
    events_schema = f"bench_replica_events_{events}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {events_schema}".encode())
    store_url = f"{base}?schema={events_schema}"
    head = load(store_url, events)
    started_replica = None if replica_url else StreamingReplica.create(base)
    try:
        read_url = replica_url or (started_replica.url_for(store_url) if started_replica else "")
        primary = ReadModelDatabase.from_url(store_url, REPORTING_SCHEMA)
        replica = ReadModelDatabase.from_url(read_url, REPORTING_SCHEMA, replica=True)
        try:
            replay_seconds = wait_replayed(primary, replica)
            figures: dict[str, dict[str, float]] = {}
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=clients, mp_context=spawn) as pool:
                for query in QUERIES:
                    runs: dict[str, list[float]] = {"primary": [], "replica": []}
                    for _ in range(rounds):
                        # Alternate, so that a drift of the machine touches both alike.
                        runs["primary"].append(
                            measure(pool, store_url, False, query, clients, seconds)
                        )
                        runs["replica"].append(
                            measure(pool, read_url, True, query, clients, seconds)
                        )
                    figures[query] = {
                        **{source: statistics.median(rates) for source, rates in runs.items()},
                        **{f"{source}_min": min(rates) for source, rates in runs.items()},
                        **{f"{source}_max": max(rates) for source, rates in runs.items()},
                    }
            lag = replica_status(primary, replica)
        finally:
            replica.close()
            primary.close()
    finally:
        if started_replica is not None:
            started_replica.remove()
    return {
        "events": head,
        "clients": clients,
        "seconds": seconds,
        "rounds": rounds,
        "replica_started": replica_url is None,
        "replay_wait_seconds": replay_seconds,
        "queries_per_second": figures,
        "replica_state": lag.state.value,
        "replica_lag_bytes": lag.lag_bytes,
        "replica_lag_seconds": lag.lag_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--replica-url", default=None)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}")
    found = run(args.url, args.events, args.replica_url, args.clients, args.seconds, args.rounds)
    where = "started for this run" if found["replica_started"] else "given"
    print(
        f"\nevents in the log: {found['events']:,}; replica {where}, replayed the read models "
        f"{found['replay_wait_seconds']:.1f} s after they were applied on the primary"
    )
    print(
        f"{found['clients']} client processes, {found['seconds']:.0f} s per measurement, "
        f"median of {found['rounds']} rounds alternating primary and replica\n"
    )
    print(f"{'query':<50} {'primary q/s':>16} {'replica q/s':>16} {'ratio':>6}")
    for query, rates in found["queries_per_second"].items():
        ratio = rates["replica"] / rates["primary"]
        cells = [
            f"{rates[s]:,.0f} ({rates[f'{s}_min']:,.0f}-{rates[f'{s}_max']:,.0f})"
            for s in ("primary", "replica")
        ]
        print(f"{query:<50} {cells[0]:>16} {cells[1]:>16} {ratio:>6.2f}")
    print("(median, and the lowest-highest of the rounds)")
    print(
        f"\nreplica after the run: {found['replica_state']}, lag {found['replica_lag_bytes']} "
        f"bytes, {found['replica_lag_seconds']} s"
    )


if __name__ == "__main__":
    main()
