"""Scale benchmark on PostgreSQL: writes through 1, 2 and 4 API processes, and the log's cap.

Usage: .venv/bin/python scripts/bench/scale.py [--processes 1,2,4] [--seconds 30]
       [--connections 16] [--url postgresql://…] [--skip-others]

For each count, that many `funding serve --no-projector` processes (one worker each, on
ports of their own, as behind a load balancer) share one PostgreSQL, and `--connections`
keep-alive HTTP clients (in client processes of their own) send `POST …/loans` to them in
turn for `--seconds`: writes/s, p50 and p99, and every 201 checked in the log exactly once.
Same-run reference, the cap: how many of the same writes (a loan and its commitment id's
claim, encoded beforehand) the event table takes one transaction at a time, from one
thread and from as many threads as connections, through the ledger's recorder — each holds
the table's lock from `LOCK TABLE` to `COMMIT`, so that is the most any number of API
processes can record without grouping writes. Then, if present, the failover
(scripts/bench/failover.py) and replica-reads (scripts/bench/replica_reads.py) benchmarks.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import contextlib
import http.client
import importlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import psycopg

from api.tokens import create_token
from domain.application import Ledger, events_to_record
from domain.commands import GrantLoan, IdentifyProject
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env

ROOT = Path(__file__).resolve().parents[2]
FUNDING = str(Path(sys.executable).with_name("funding"))
TARGETS = 2000
ACTOR = Actor(name="bench", directorate="hauts_de_france")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def identify(n: int) -> IdentifyProject:
    return IdentifyProject(
        name=f"Cible {n}",
        territory="commune:59650",
        theme="mobility",
        directorate="hauts_de_france",
        identified_on=date(2025, 1, 2),
    )


# HTTP clients, in processes of their own --------------------------------------------------


def _client(job: tuple[list[int], str, list[str], float, int, int]) -> dict[str, Any]:
    """Send loans for `seconds` from `threads` connections, each to one port in turn."""
    ports, token, projects, seconds, threads, offset = job
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    acks: list[tuple[int, str]] = []
    refusals: Counter[str] = Counter()
    lock = threading.Lock()

    def run(index: int) -> None:
        port = ports[(offset + index) % len(ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        n = offset * 1000 + index
        mine: list[float] = []
        got: list[tuple[int, str]] = []
        while time.monotonic() < deadline:
            project = projects[n % len(projects)]
            n += 7919
            body = json.dumps(
                {
                    "amount": f"{1000 + n % 900000}.00",
                    "granted_on": "2025-06-02",
                    "duration_months": 120,
                }
            )
            started = time.perf_counter()
            conn.request("POST", f"/v1/projects/{project}/loans", body, headers)
            response = conn.getresponse()
            data = response.read()
            mine.append(time.perf_counter() - started)
            if response.status == 201:
                answer = json.loads(data)
                got.append((answer["position"], answer["commitment_id"]))
            else:
                with lock:
                    refusals[f"{response.status} {data[:100]!r}"] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            acks.extend(got)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"latencies": latencies, "acks": acks, "refusals": refusals}


def exactly_once(ledger: Ledger, acks: list[tuple[int, str]]) -> bool:
    """Every acknowledged write names a distinct position holding its own LoanGranted."""
    if len({position for position, _ in acks}) != len(acks):
        return False
    for position, commitment in acks:
        found = ledger.recorder.select_notifications(start=position, limit=1)
        event: Any = ledger.mapper.to_domain_event(found[0])
        if type(event).__name__ != "LoanGranted" or str(event.commitment_id) != commitment:
            return False
    return True


# Writes through n API processes ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_serving(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"the server on port {port} exited: {log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.2)
    raise SystemExit(f"the server on port {port} did not start")


def writes(
    url: str, ledger: Ledger, token: str, projects: list[str], processes: int, args: Any
) -> dict[str, Any]:
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": url + "&pool_size=10&max_overflow=10",
        "FUNDING_REPORTING_SCHEMA": "bench_scale_reporting",
        "FUNDING_LOG_LEVEL": "INFO",  # every request logs its line, as in production
        "FUNDING_LOG_FORMAT": "json",
    }
    ports = [_free_port() for _ in range(processes)]
    logs = Path(tempfile.mkdtemp(prefix="scale-servers-"))
    servers = []
    for port in ports:
        with (logs / f"{port}.log").open("wb") as log:
            servers.append(
                subprocess.Popen(
                    [FUNDING, "serve", "--port", str(port), "--no-projector"],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            )
    try:
        for port, server in zip(ports, servers, strict=True):
            _wait_serving(port, server, logs / f"{port}.log")
        clients = max(1, min(4, args.connections // 4))
        per_client = args.connections // clients
        jobs = [
            (ports, token, projects, args.seconds, per_client, i * per_client)
            for i in range(clients)
        ]
        head = ledger.head_position()
        started = time.perf_counter()
        with ProcessPoolExecutor(clients, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_client, jobs))
        elapsed = time.perf_counter() - started
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(30)
        shutil.rmtree(logs)
    latencies = [x for r in results for x in r["latencies"]]
    acks = [x for r in results for x in r["acks"]]
    refusals: Counter[str] = sum((r["refusals"] for r in results), Counter())
    return {
        "processes": processes,
        "writes_per_second": len(acks) / args.seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "acks": len(acks),
        "refused": sum(refusals.values()),
        "refusals": refusals.most_common(3),
        "appended": ledger.head_position() - head,
        "exactly_once": exactly_once(ledger, acks),
        "wall_seconds": elapsed,
    }


# The cap: one transaction per write, straight into the recorder -----------------------------


def cap(ledger: Ledger, threads: int, seconds: float) -> float:
    """Single-transaction inserts/s of a loan and its claim, from `threads` threads."""
    per_thread = []
    for _ in range(threads):
        project = identify(0).create()
        ledger.save(*events_to_record(ACTOR, project)[0])
        writes_: list[list[Any]] = []
        for n in range(4000):
            GrantLoan(
                project_id=project.id,
                commitment_id=uuid4(),
                amount=f"{1000 + n}.00",
                granted_on=date(2025, 6, 2),
                duration_months=120,
            ).apply(project, ledger)
            events, _ = events_to_record(ACTOR, project)
            writes_.append([ledger.mapper.to_stored_event(e) for e in events])
        per_thread.append(writes_)
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        for stored in per_thread[index]:
            if time.monotonic() >= stop:
                return
            ledger.recorder.insert_events(stored)
            done[index] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - started)


# Sibling benchmarks ----------------------------------------------------------------------------


def others(url: str) -> None:
    for name in ("failover", "replica_reads"):
        try:
            module = importlib.import_module(f"scripts.bench.{name}")
        except ModuleNotFoundError as error:
            if error.name not in (f"scripts.bench.{name}", "scripts.bench", "scripts"):
                raise
            print(f"\n{name}: scripts/bench/{name}.py is not in this checkout: skipped")
            continue
        print(f"\n{name}: scripts/bench/{name}.py")
        figures = module.run(url)
        for key, value in figures.items():
            print(f"  {key}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-others", action="store_true")
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "FUNDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    base = args.url.partition("?")[0]
    schema = f"bench_scale_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{base}?schema={schema}"
    ledger = Ledger(env=library_env(url))
    try:
        admin, _ = create_token(ledger, name="bench-admin", role=Role.ADMIN)
        projects = [identify(n).create() for n in range(TARGETS)]
        ledger.save(*(e for p in projects for e in events_to_record(ACTOR, p)[0]))
        ids = [str(UUID(str(p.id))) for p in projects]
        print(f"machine: {os.cpu_count()} cores, {platform.platform()}")
        print(f"{args.connections} client connections, {args.seconds:.0f} s per run\n")
        rows = []
        for count in (int(n) for n in args.processes.split(",")):
            row = writes(url, ledger, admin, ids, count, args)
            rows.append(row)
            print(
                f"{count} API process(es): {row['writes_per_second']:,.0f} writes/s, "
                f"p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms; {row['acks']:,} "
                f"201s, {row['refused']} refused, every 201 in the log exactly once: "
                f"{'yes' if row['exactly_once'] else 'NO'}",
                flush=True,
            )
            for refusal, times in row["refusals"]:
                print(f"    {times} x {refusal}")
        one, many = cap(ledger, 1, 10.0), cap(ledger, args.connections, 10.0)
        print(
            f"\ncap, single-transaction inserts of the same writes (loan + claim) through "
            f"the recorder: {one:,.0f}/s from 1 thread, {many:,.0f}/s from "
            f"{args.connections} threads (the table lock serialises them)"
        )
        best = max(rows, key=lambda r: r["writes_per_second"])
        print(
            f"best API figure ÷ cap from {args.connections} threads: "
            f"{best['writes_per_second'] / many:.2f} ({best['processes']} processes)"
        )
    finally:
        ledger.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
            conn.execute("DROP SCHEMA IF EXISTS bench_scale_reporting CASCADE")
    if not args.skip_others:
        others(args.url)


if __name__ == "__main__":
    main()
