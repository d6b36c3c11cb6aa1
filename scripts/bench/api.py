"""HTTP API benchmark on PostgreSQL: totals against /healthz, and a write load, with wrk.

Usage: .venv/bin/python scripts/bench/api.py [--events 1000000] [--url postgresql://…]
Needs `wrk` (Debian: apt-get install wrk). Uses the ledger `scripts/bench/projections.py`
loads (same schemas), serves it with `funding serve --workers 2`, and loads it from wrk,
a separate process. Prints every figure beside its same-run reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import the packages from the repository, as scripts/bench/projections.py does.
sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import date
from typing import Any
from uuid import UUID

import psycopg

from api.tokens import create_token
from demo import generate
from domain.application import Ledger
from domain.project import Project
from domain.tokens import Role
from eventstore.settings import library_env

ROOT = Path(__file__).resolve().parents[2]
REPORTING_SCHEMA = "bench_reporting"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
WRITE_PROJECTS = 2000

WRITE_SCRIPT = r"""
local projects = {}
for line in io.lines(os.getenv("BENCH_PROJECTS")) do projects[#projects + 1] = line end
local token = os.getenv("BENCH_TOKEN")
local thread_id = 0
function setup(thread) thread_id = thread_id + 1; thread:set("id", thread_id) end
function init(args)
  math.randomseed(id * 7919)
  out = io.open(os.getenv("BENCH_OUT") .. "." .. id, "w")
end
-- Each loan's amount is its own (thread and count), so none repeats another (a duplicate).
local sent = 0
function request()
  local project = projects[math.random(#projects)]
  sent = sent + 1
  local body = '{"amount": "' .. (id * 10000000 + sent) .. '.00", '
    .. '"granted_on": "2025-06-02", "duration_months": 120}'
  return wrk.format("POST", "/v1/projects/" .. project .. "/loans",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
function response(status, headers, body)
  if status ~= 201 then
    out:write("refused " .. status .. " " .. body:sub(1, 120) .. "\n")
  else
    out:write(body:match('"position":(%d+)') .. " "
      .. body:match('"commitment_id":"([%x%-]+)"') .. "\n")
    out:flush()
  end
end
"""


def wrk(
    path: str,
    *,
    connections: int,
    seconds: int,
    script: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", script]
    run = subprocess.run([*command, BASE + path], capture_output=True, text=True, check=True)
    if run.stderr.strip():
        # wrk reports a broken script on stderr and goes on with plain GETs: stop instead.
        raise SystemExit(f"wrk: {run.stderr.strip()}")
    output = run.stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    if p99:
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
        figures["p99_ms"] = float(p99.group(1)) * scale
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["non_2xx"] = float(non_2xx.group(1)) if non_2xx else 0.0
    figures["requests"] = float(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return figures


def http(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    """Send one request to the server under test; return its JSON."""
    request = urllib.request.Request(  # noqa: S310 - the local server under test
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - localhost
        return json.loads(response.read())


def exactly_once(ledger: Ledger, acks: list[list[str]]) -> bool:
    """Every acknowledged write names a distinct position holding its own LoanGranted."""
    positions = [int(position) for position, _ in acks]
    if len(set(positions)) != len(positions):
        return False
    for position, commitment in acks:
        found = ledger.recorder.select_notifications(start=int(position), limit=1)
        event: Any = ledger.mapper.to_domain_event(found[0])
        if type(event).__name__ != "LoanGranted" or str(event.commitment_id) != commitment:
            return False
    return True


def probe_lag(token: str, project: UUID, stop: threading.Event, lags: list[float]) -> None:
    """Every 100 ms: write, then read with min_position; the wait is the projection lag."""
    while not stop.is_set():
        written = http(
            "POST",
            # The same loan every 100 ms, meant: confirmed (not a possible duplicate).
            f"/v1/projects/{project}/loans?confirm_duplicate=true",
            token,
            {"amount": "1000.00", "granted_on": "2025-06-02", "duration_months": 60},
        )
        started = time.perf_counter()
        http("GET", f"/v1/totals?min_position={written['position']}", token)
        lags.append(time.perf_counter() - started)
        stop.wait(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--write-seconds", type=int, default=60)
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "FUNDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    base = args.url.partition("?")[0]
    events_schema = f"bench_events_{args.events}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {events_schema}")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {REPORTING_SCHEMA}")
    url = f"{base}?schema={events_schema}"
    ledger = Ledger(env=library_env(url))
    if ledger.head_position() < args.events:
        print(f"loading {args.events:,} events")
        generate(ledger, args.events - ledger.head_position(), seed=2026, env=library_env(url))
    viewer, _ = create_token(ledger, name=f"bench-viewer-{time.time_ns()}", role=Role.VIEWER)
    admin, _ = create_token(ledger, name=f"bench-admin-{time.time_ns()}", role=Role.ADMIN)
    targets = [
        Project.identify(
            project_id=UUID(int=time.time_ns() + i),
            name=f"Cible {i}",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2025, 1, 2),
        )
        for i in range(WRITE_PROJECTS)
    ]
    ledger.save(*targets)
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": url + "&pool_size=10&max_overflow=10",
        "FUNDING_REPORTING_SCHEMA": REPORTING_SCHEMA,
        # Every request logs its canonical line, as in production (to nowhere here).
        "FUNDING_LOG_LEVEL": "INFO",
        "FUNDING_LOG_FORMAT": "json",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(PORT), "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                http("GET", "/v1/totals?min_position=" + str(ledger.head_position()), viewer)
                break
            except OSError:
                time.sleep(0.5)
        auth = {"Authorization": f"Bearer {viewer}"}
        health = wrk("/healthz", connections=16, seconds=20)
        totals = wrk(
            "/v1/totals?group_by=region,theme&year=2024", connections=16, seconds=20, headers=auth
        )
        with tempfile.TemporaryDirectory() as tmp:
            project_file = Path(tmp, "projects.txt")
            project_file.write_text("\n".join(str(p.id) for p in targets))
            script = Path(tmp, "write.lua")
            script.write_text(WRITE_SCRIPT)
            os.environ.update(
                BENCH_PROJECTS=str(project_file), BENCH_TOKEN=admin, BENCH_OUT=f"{tmp}/acks"
            )
            head_before = ledger.head_position()
            stop = threading.Event()
            lags: list[float] = []
            prober = threading.Thread(target=probe_lag, args=(admin, targets[0].id, stop, lags))
            prober.start()
            writes = wrk("/", connections=16, seconds=args.write_seconds, script=str(script))
            stop.set()
            prober.join()
            lines = [
                line
                for ack_file in Path(tmp).glob("acks.*")
                for line in ack_file.read_text().splitlines()
            ]
            acks = [line.split() for line in lines if not line.startswith("refused")]
            refusals = Counter(line[:160] for line in lines if line.startswith("refused"))
        head_after = ledger.head_position()
        once = exactly_once(ledger, acks)
    finally:
        server.terminate()
        server.wait(30)
    lags.sort()
    print(f"\nlog: {head_before:,} events before the write load")
    print(f"GET /healthz: {health['rps']:,.0f} req/s, p99 {health['p99_ms']:.1f} ms")
    print(
        f"GET /v1/totals region,theme 2024: {totals['rps']:,.0f} req/s, "
        f"p99 {totals['p99_ms']:.1f} ms ({totals['rps'] / health['rps']:.2f}x /healthz; "
        f"non-2xx {totals['non_2xx']:.0f})"
    )
    print(
        f"POST loans, 16 connections: {writes['rps']:,.0f} writes/s, "
        f"p99 {writes['p99_ms']:.1f} ms (non-2xx {writes['non_2xx']:.0f})"
    )
    print(
        f"projection lag (201 → min_position read): p50 {lags[len(lags) // 2] * 1000:.0f} ms, "
        f"p99 {lags[int(len(lags) * 0.99)] * 1000:.0f} ms over {len(lags)} probes"
    )
    for refusal, count in refusals.most_common(5):
        print(f"  {count} × {refusal}")
    print(
        f"every 201 in the log exactly once: {'yes' if once else 'NO'} ({len(acks):,} 201s "
        f"checked; {head_after - head_before:,} events appended, probes and writes wrk "
        "cut off at the end included)"
    )
    ledger.close()


if __name__ == "__main__":
    main()
