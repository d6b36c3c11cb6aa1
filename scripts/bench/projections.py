"""Projections benchmark on PostgreSQL: rebuild, the stock runner, raw COPY, query latency, lag.

Usage: .venv/bin/python scripts/bench/projections.py [--events 1000000] [--url postgresql://…]

Loads a deterministic ledger into its own schemas (reused when already loaded), then measures
in the same run: (a) a full rebuild of every read model (events/s, peak RSS of the process),
(b) the eventsourcing library's stock ProjectionRunner computing the same totals on a
20,000-event sample, (c) raw COPY of as many rows of the same size into a scratch table,
(d) totals query latency with a territory filter, (e) the live projector's lag under a
steady write load. Prints every figure beside its reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file's name shadows the `projections` package: import packages from the repository.
sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL

from demo import generate
from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject
from domain.reference.territories import TerritoryLevel, load_territories
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.projector import wait_for_position
from projections.totals.queries import totals

ROOT = Path(__file__).resolve().parents[2]
REPORTING_SCHEMA = "bench_reporting"
SAMPLE = 20_000
QUERIES = (
    (("region", "theme"), {"territory": "region:32"}),
    (("departement", "instrument"), {"territory": "region:84"}),
    (("year", "programme"), {"territory": "departement:59"}),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load(url: str, events: int) -> tuple[Ledger, int]:
    ledger = Ledger(env=library_env(url))
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
            env=library_env(url),
        )
        elapsed = time.perf_counter() - started
        print(f"\r  loaded {head:,} events in {elapsed:.0f} s ({head / elapsed:,.0f} events/s)")
    return ledger, head


def measure_rebuild(url: str) -> tuple[float, float]:
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": url,
        "FUNDING_REPORTING_SCHEMA": REPORTING_SCHEMA,
        "FUNDING_LOG_FORMAT": "json",
        "FUNDING_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "api.cli", "rebuild"],
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak_kib / 1024


# (b) The library's way: a Projection whose view commits once per event. ----------------------


class StockTotalsView(PostgresTrackingRecorder):
    """Totals per region, département, theme, programme, instrument and year."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = self.datastore.schema
        self.sql_create_statements.extend(
            SQL(statement).format()
            for statement in [
                f"CREATE TABLE IF NOT EXISTS {schema}.stock_projects (project_id uuid PRIMARY KEY,"
                " region text, departement text, theme text, programme text)",
                f"CREATE TABLE IF NOT EXISTS {schema}.stock_commitments (commitment_id uuid "
                "PRIMARY KEY, project_id uuid, instrument text, year int, amount bigint)",
                f"CREATE TABLE IF NOT EXISTS {schema}.stock_totals (region text, departement "
                "text, theme text, programme text, instrument text, year int, committed bigint "
                "DEFAULT 0, cancelled bigint DEFAULT 0, disbursed bigint DEFAULT 0, repaid "
                "bigint DEFAULT 0, PRIMARY KEY (region, departement, theme, programme, "
                "instrument, year))",
            ]
        )

    def record(self, tracking: Tracking, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for sql, params in statements:
                curs.execute(sql.replace("{s}", self.datastore.schema), params)
            self._insert_tracking(curs, tracking)


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


class StockTotals(Projection[StockTotalsView]):
    """The same money figures, one event and one transaction at a time."""

    name = "stocktotals"

    def process_event(self, domain_event: DomainEventProtocol[UUID], tracking: Tracking) -> None:
        e: Any = domain_event
        kind = type(e).__name__
        statements: list[tuple[str, tuple[Any, ...]]] = []
        upsert = (
            "INSERT INTO {s}.stock_totals AS t SELECT p.region, p.departement, p.theme, "
            "p.programme, c.instrument, %s, %s, %s, %s, %s FROM {s}.stock_commitments c "
            "JOIN {s}.stock_projects p USING (project_id) WHERE c.commitment_id = %s "
            "ON CONFLICT (region, departement, theme, programme, instrument, year) DO UPDATE "
            "SET committed = t.committed + excluded.committed, cancelled = t.cancelled + "
            "excluded.cancelled, disbursed = t.disbursed + excluded.disbursed, "
            "repaid = t.repaid + excluded.repaid"
        )
        if kind == "ProjectIdentified":
            place = load_territories().get(e.territory)
            statements.append(
                (
                    "INSERT INTO {s}.stock_projects VALUES (%s, %s, %s, %s, %s)",
                    (
                        e.originator_id,
                        place.at_level(TerritoryLevel.REGION) or "",
                        place.at_level(TerritoryLevel.DEPARTEMENT) or "",
                        e.theme,
                        e.programme or "",
                    ),
                )
            )
        elif kind in ("LoanGranted", "EquityInvested", "StudyLaunched"):
            on = getattr(
                e,
                {"LoanGranted": "granted_on", "EquityInvested": "invested_on"}.get(
                    kind, "launched_on"
                ),
            )
            instrument = {"LoanGranted": "loan", "EquityInvested": "equity"}.get(kind, "study")
            statements.append(
                (
                    "INSERT INTO {s}.stock_commitments VALUES (%s, %s, %s, %s, %s)",
                    (e.commitment_id, e.originator_id, instrument, on.year, _cents(e.amount)),
                )
            )
            statements.append((upsert, (on.year, _cents(e.amount), 0, 0, 0, e.commitment_id)))
        elif kind == "FundsDisbursed":
            statements.append(
                (upsert, (e.disbursed_on.year, 0, 0, _cents(e.amount), 0, e.commitment_id))
            )
        elif kind == "LoanRepaid":
            statements.append(
                (upsert, (e.repaid_on.year, 0, 0, 0, _cents(e.principal), e.commitment_id))
            )
        elif kind == "CommitmentCancelled":
            statements.append(
                (upsert, (e.cancelled_on.year, 0, _cents(e.amount), 0, 0, e.commitment_id))
            )
        self.view.record(tracking, statements)


def measure_stock_runner(url: str) -> float:
    # The view's settings are prefixed with the projection's name; the ledger's are not.
    env = {**library_env(url), "STOCKTOTALS_POSTGRES_SCHEMA": REPORTING_SCHEMA}
    started = time.perf_counter()
    with ProjectionRunner(
        application_class=Ledger,
        projection_class=StockTotals,
        view_class=StockTotalsView,
        env=env,
    ) as runner:
        runner.wait(SAMPLE, timeout=600)
    return SAMPLE / (time.perf_counter() - started)


def measure_copy(conninfo: str, rows: int) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {REPORTING_SCHEMA}.copy_scratch")
        conn.execute(
            f"CREATE UNLOGGED TABLE {REPORTING_SCHEMA}.copy_scratch (LIKE "
            f"{REPORTING_SCHEMA}.facts INCLUDING DEFAULTS)"
        )
        sample = conn.execute(f"SELECT * FROM {REPORTING_SCHEMA}.facts LIMIT 1000").fetchall()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {REPORTING_SCHEMA}.copy_scratch FROM STDIN") as copy,
        ):
            for i in range(rows):
                copy.write_row(sample[i % len(sample)])
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {REPORTING_SCHEMA}.copy_scratch")
    return rows / elapsed


def measure_queries(db: ReadModelDatabase, runs: int = 300) -> list[tuple[str, float, float]]:
    results = []
    for group_by, filters in QUERIES:
        for _ in range(20):
            totals(db, group_by, filters, None, None)
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            totals(db, group_by, filters, None, None)
            timings.append((time.perf_counter() - started) * 1000)
        label = f"group_by={','.join(group_by)} territory={filters['territory']}"
        results.append((label, percentile(timings, 0.5), percentile(timings, 0.95)))
    return results


def measure_lag(
    url: str, ledger: Ledger, db: ReadModelDatabase, seconds: float, rate: float
) -> tuple[float, float, float, float]:
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": url,
        "FUNDING_REPORTING_SCHEMA": REPORTING_SCHEMA,
        "FUNDING_LOG_LEVEL": "WARNING",
    }
    projector = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "projector"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The read models may already be at the head: write once and see it arrive, so that
        # the projector process is up and following before the clock starts.
        probe = ledger.execute(
            Actor(name="bench"),
            IdentifyProject(
                name="Sonde",
                territory="commune:59650",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2025, 1, 2),
            ),
        )
        if wait_for_position(db, probe.position, timeout=120) < probe.position:
            raise SystemExit("the projector did not start")
        written: list[tuple[int, float]] = []
        lags: list[float] = []
        done = threading.Event()

        def observe() -> None:
            seen = 0
            while not done.is_set() or seen < len(written):
                reached = wait_for_position(db, 0, timeout=0)
                now = time.perf_counter()
                while seen < len(written) and written[seen][0] <= reached:
                    lags.append(now - written[seen][1])
                    seen += 1
                time.sleep(0.002)

        observer = threading.Thread(target=observe)
        observer.start()
        actor = Actor(name="bench")
        started = time.perf_counter()
        n = 0
        while (elapsed := time.perf_counter() - started) < seconds:
            if n > elapsed * rate:
                time.sleep(0.001)
                continue
            w = ledger.execute(
                actor,
                IdentifyProject(
                    name=f"Charge {n}",
                    territory="commune:59650",
                    theme="mobility",
                    directorate="hauts_de_france",
                    identified_on=date(2025, 1, 2),
                ),
            )
            loan = ledger.execute(
                actor,
                GrantLoan(
                    project_id=w.id,
                    amount="1000000.00",
                    granted_on=date(2025, 2, 3),
                    duration_months=120,
                ),
            )
            written.append((loan.position, time.perf_counter()))
            n += 1
        done.set()
        observer.join(60)
        return n * 2 / seconds, percentile(lags, 0.5), percentile(lags, 0.99), max(lags)
    finally:
        projector.terminate()
        projector.wait(30)


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
    base = args.url.partition("?")[0]
    events_schema = f"bench_events_{args.events}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {events_schema}")
        conn.execute(f"DROP SCHEMA IF EXISTS {REPORTING_SCHEMA} CASCADE")
    url = f"{base}?schema={events_schema}"
    print(f"machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB, {platform.platform()}")
    ledger, head = load(url, args.events)

    rebuild_s, rss_mib = measure_rebuild(url)
    rebuild_rate = head / rebuild_s
    stock_rate = measure_stock_runner(url)
    db = ReadModelDatabase.from_url(url, REPORTING_SCHEMA)
    copy_rate = measure_copy(base, head)
    queries = measure_queries(db)
    write_rate, lag_p50, lag_p99, lag_max = measure_lag(url, ledger, db, 20, 100)

    print(f"\nevents in the log:             {head:,}")
    print(
        f"(a) full rebuild (both models): {rebuild_rate:,.0f} events/s in {rebuild_s:.1f} s, "
        f"peak RSS {rss_mib:.0f} MiB"
    )
    print(
        f"(b) stock ProjectionRunner:     {stock_rate:,.0f} events/s on a {SAMPLE:,}-event sample"
    )
    print(f"    rebuild / stock runner:     {rebuild_rate / stock_rate:.1f}x")
    print(f"(c) raw COPY, same row size:    {copy_rate:,.0f} rows/s")
    print(f"    rebuild / raw COPY:         {rebuild_rate / copy_rate:.2f}x")
    for label, p50, p95 in queries:
        print(f"(d) totals {label:<48} p50 {p50:.2f} ms  p95 {p95:.2f} ms")
    print(
        f"(e) live lag at {write_rate:.0f} events/s written: p50 {lag_p50 * 1000:.0f} ms, "
        f"p99 {lag_p99 * 1000:.0f} ms, max {lag_max * 1000:.0f} ms"
    )
    db.close()
    ledger.close()


def _memory_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        return int(meminfo.readline().split()[1]) / 1024 / 1024


if __name__ == "__main__":
    main()
