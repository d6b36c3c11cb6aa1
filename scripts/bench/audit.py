"""The verifiable log on PostgreSQL: writes with leaf hashing, `verify_log`, tree heads and proofs.

Usage: .venv/bin/python scripts/bench/audit.py [--events 1000000] [--url postgresql://…]
       [--part all|bulk|api|series|verify|proofs|asat]

Two schemas hold the same log: `bench_audit_N` written by the ledger's recorder (each write
adds its Merkle leaves and subtrees before its COMMIT) and `bench_audit_plain_N`, the
reference, written by the same recorder with leaf hashing off. Parts (each prints its
figures beside its same-run reference; `bulk` loads both schemas, the others reuse them):

- bulk:   the bulk loader (`demo/synthetic.py`, 20,000 events per transaction: COPY); each
          transaction's events are written to both schemas, in alternating order, timed.
- api:    API-style small writes (one command each, 16 threads, group commit), hashed and
          reference schemas in alternating 3-second rounds (h p p h h p …); the ratio of
          the totals, and the median of the ratios of each pair of neighbouring rounds
          (on a shared machine, a burst of other work spoils a pair, not the figure).
- series: one thread, 4-event writes (no group commit), to the two schemas in turn; the
          median time of each.
- verify: `verify_log` over the whole log beside the raw read-and-decode rate of the same
          events (server-side cursor, the application's mapper), each in a child process
          whose peak RSS is printed.
- proofs: tree head, inclusion proof (by position) and consistency proof latencies, p50/p95
          over 1,000 random requests each, at the full size; proof sizes against 2·log2 n.
- asat:   an as-at report over the whole log beside the full rebuild of the same log, and
          its peak RSS at two sizes (`scripts/bench/asat.py`, which also runs on its own).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import itertools
import json
import math
import os
import random
import resource
import statistics
import subprocess
import threading
import time
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from demo import generate
from demo.bulk import CHUNK_EVENTS
from domain.application import Ledger
from domain.commands import LaunchStudy
from domain.project import Project
from domain.values import Actor
from eventstore import merkle
from eventstore.settings import library_env
from eventstore.tree import log_tree
from eventstore.verify import verify_log

ACTOR = Actor("bench-audit")
API_PROJECTS = 200
API_THREADS = 16
API_ROUND_SECONDS = 3.0
API_ROUNDS = 10
SERIES_WRITES = 300
SERIES_EVENTS = 4
SAMPLES = 1000
PAGE = 5000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def schemas(events: int) -> tuple[str, str]:
    return f"bench_audit_{events}", f"bench_audit_plain_{events}"


def url_of(base: str, schema: str, extra: str = "") -> str:
    return f"{base}?schema={schema}{extra}"


def ledger_of(base: str, schema: str, *, hashed: bool, extra: str = "") -> Ledger:
    ledger = Ledger(env=library_env(url_of(base, schema, extra)))
    ledger.recorder.merkle_leaves = hashed  # type: ignore[attr-defined]
    return ledger


# bulk -----------------------------------------------------------------------------------------


def part_bulk(base: str, events: int) -> None:
    hashed_schema, plain_schema = schemas(events)
    with psycopg.connect(base, autocommit=True) as conn:
        for name in (hashed_schema, plain_schema):
            conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(name)))
            conn.execute(SQL("CREATE SCHEMA {0}").format(Identifier(name)))
    hashed = ledger_of(base, hashed_schema, hashed=True)
    plain = ledger_of(base, plain_schema, hashed=False)
    seconds = {"hashed": 0.0, "plain": 0.0}
    insert_hashed = hashed.recorder.insert_events
    insert_plain = plain.recorder.insert_events
    turn = [0]

    def both(stored: list[StoredEvent], **kwargs: Any) -> Any:
        # The same events, in the same transactions, to both schemas; who goes first alternates.
        turn[0] += 1
        order = [("hashed", insert_hashed), ("plain", insert_plain)]
        if turn[0] % 2:
            order.reverse()
        answer = None
        for name, insert in order:
            started = time.perf_counter()
            ids = insert(stored, **kwargs)
            seconds[name] += time.perf_counter() - started
            if name == "hashed":
                answer = ids
        return answer

    hashed.recorder.insert_events = both  # type: ignore[assignment]
    started = time.perf_counter()
    loaded = generate(
        hashed,
        events,
        seed=2026,
        progress=lambda n: print(f"\r  loading {n:,} events (twice)", end="", flush=True),
    )
    wall = time.perf_counter() - started
    loader = wall - seconds["hashed"] - seconds["plain"]  # making the commands, events
    print(f"\r  loaded {loaded:,} events into each schema in {wall:.0f} s")
    hashed.close()
    plain.close()
    rate_h = loaded / seconds["hashed"]
    rate_p = loaded / seconds["plain"]
    print(
        f"(a) bulk loader, store writes ({CHUNK_EVENTS:,}-event transactions, COPY): with leaves "
        f"{rate_h:,.0f} events/s, without {rate_p:,.0f} events/s: {rate_h / rate_p:.2f}x"
    )
    end_h = loaded / (loader + seconds["hashed"])
    end_p = loaded / (loader + seconds["plain"])
    print(
        f"    bulk loader end to end (commands + writes): with leaves {end_h:,.0f} events/s, "
        f"without {end_p:,.0f} events/s: {end_h / end_p:.2f}x"
    )


# api ------------------------------------------------------------------------------------------


def part_api(base: str, events: int) -> None:
    hashed_schema, plain_schema = schemas(events)
    pool = f"&pool_size={API_THREADS}&max_overflow=0"
    ledgers = {
        "hashed": ledger_of(base, hashed_schema, hashed=True, extra=pool),
        "plain": ledger_of(base, plain_schema, hashed=False, extra=pool),
    }
    projects: dict[str, list[UUID]] = {}
    for name, ledger in ledgers.items():
        targets = [
            Project.identify(
                project_id=UUID(int=time.time_ns() + i),
                name=f"Cible {i}",
                territory="commune:59650",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2025, 1, 2),
            )
            for i in range(API_PROJECTS)
        ]
        ledger.save(*targets)
        projects[name] = [p.id for p in targets]
    done = {"hashed": 0, "plain": 0}
    spent = {"hashed": 0.0, "plain": 0.0}
    pairs: list[dict[str, float]] = []
    for round_ in range(API_ROUNDS * 2):
        name = ("hashed", "plain")[(round_ + round_ // 2) % 2]  # h p p h h p p h
        writes, seconds = _api_round(ledgers[name], projects[name])
        done[name] += writes
        spent[name] += seconds
        if round_ % 2 == 0:
            pairs.append({})
        pairs[-1][name] = writes / seconds
    for ledger in ledgers.values():
        ledger.close()
    rate_h = done["hashed"] / spent["hashed"]
    rate_p = done["plain"] / spent["plain"]
    ratios = sorted(pair["hashed"] / pair["plain"] for pair in pairs)
    print(
        f"(a) API-style writes ({API_THREADS} threads, one command each, group commit, "
        f"{API_ROUNDS}x{API_ROUND_SECONDS:.0f} s each): with leaves {rate_h:,.0f} writes/s, "
        f"without {rate_p:,.0f} writes/s: {rate_h / rate_p:.2f}x; pairs of rounds: median "
        f"{statistics.median(ratios):.2f}x ({', '.join(f'{r:.2f}' for r in ratios)})"
    )


# The API-style writes' amounts (euros): a new one for each write, across rounds and threads.
AMOUNTS = itertools.count(1)


def _api_round(ledger: Ledger, projects: list[UUID]) -> tuple[int, float]:
    stop = threading.Event()
    counts = [0] * API_THREADS

    def work(k: int) -> None:
        rng = random.Random(k)
        while not stop.is_set():
            ledger.execute(
                ACTOR,
                LaunchStudy(
                    project_id=rng.choice(projects),
                    # An amount of its own: no write repeats another (a possible duplicate).
                    amount=f"{next(AMOUNTS)}.00",
                    launched_on=date(2025, 3, 1),
                    subject="bench",
                ),
            )
            counts[k] += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(API_THREADS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(API_ROUND_SECONDS)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - started


# series ---------------------------------------------------------------------------------------


def part_series(base: str, events: int) -> None:
    hashed_schema, plain_schema = schemas(events)
    ledgers = {
        "hashed": ledger_of(base, hashed_schema, hashed=True),
        "plain": ledger_of(base, plain_schema, hashed=False),
    }
    state = b'{"amount": "1234.00", "subject": "bench", "launched_on": "2025-03-01"}' * 4
    seconds: dict[str, list[float]] = {"hashed": [], "plain": []}
    for k in range(SERIES_WRITES):
        for name in ("hashed", "plain") if k % 2 else ("plain", "hashed"):
            stored = [StoredEvent(uuid4(), 1, "bench.topic", state) for _ in range(SERIES_EVENTS)]
            started = time.perf_counter()
            ledgers[name].recorder.insert_events(stored)
            seconds[name].append(time.perf_counter() - started)
    for ledger in ledgers.values():
        ledger.close()
    with_ms = percentile(seconds["hashed"], 0.5) * 1000
    without_ms = percentile(seconds["plain"], 0.5) * 1000
    print(
        f"(a) one thread, {SERIES_WRITES} writes of {SERIES_EVENTS} events each, alternating: "
        f"median {with_ms:.2f} ms with leaves, {without_ms:.2f} ms without: "
        f"{without_ms / with_ms:.2f}x the rate"
    )


# verify ---------------------------------------------------------------------------------------


def part_verify(base: str, events: int) -> None:
    hashed_schema, _ = schemas(events)
    url = url_of(base, hashed_schema)
    decode = _child("decode", url)
    verify = _child("verify", url)
    print(
        f"(b) raw read-and-decode (server-side cursor, mapper): {decode['events']:,} events "
        f"in {decode['seconds']:.1f} s = {decode['events'] / decode['seconds']:,.0f} events/s, "
        f"peak RSS {decode['rss_mib']:.0f} MiB"
    )
    rate = verify["checked"] / verify["seconds"]
    print(
        f"    verify_log: {verify['checked']:,} events in {verify['seconds']:.1f} s = "
        f"{rate:,.0f} events/s = {rate / (decode['events'] / decode['seconds']):.2f}x, "
        f"peak RSS {verify['rss_mib']:.0f} MiB, ok={verify['ok']}"
    )


def _child(what: str, url: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", what, "--url", url],
        check=True,
        capture_output=True,
        text=True,
    )
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def child(what: str, url: str) -> None:
    ledger = Ledger(env=library_env(url))
    started = time.perf_counter()
    if what == "verify":
        report = verify_log(ledger.recorder)
        out: dict[str, Any] = {"checked": report.checked, "ok": report.ok}
    else:
        out = {"events": _read_and_decode(ledger)}
    out["seconds"] = time.perf_counter() - started
    out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ledger.close()
    print(json.dumps(out))


def _read_and_decode(ledger: Ledger) -> int:
    recorder: Any = ledger.recorder
    table = SQL("{0}.{1}").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )
    count = 0
    with (
        recorder.datastore._funding_unguarded() as conn,
        conn.transaction(),
        conn.cursor(name="bench_decode", row_factory=tuple_row) as curs,
    ):
        curs.itersize = PAGE
        curs.execute(
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {0} ORDER BY notification_id"
            ).format(table)
        )
        while rows := curs.fetchmany(PAGE):
            for _, i, v, t, s in rows:
                ledger.mapper.to_domain_event(StoredEvent(i, v, t, s))
            count += len(rows)
    return count


# proofs ---------------------------------------------------------------------------------------


def part_proofs(base: str, events: int) -> None:
    hashed_schema, _ = schemas(events)
    ledger = Ledger(env=library_env(url_of(base, hashed_schema)))
    tree = log_tree(ledger.recorder)
    n = tree.size()
    rng = random.Random(2026)
    heads: list[float] = []
    inclusions: list[float] = []
    consistencies: list[float] = []
    longest = [0, 0]
    root = tree.root(n)
    head_position = ledger.head_position()
    for _ in range(SAMPLES):
        started = time.perf_counter()
        tree.head()
        heads.append(time.perf_counter() - started)

        position = rng.randint(1, head_position)
        started = time.perf_counter()
        leaf = tree.leaf(position)
        path = [] if leaf is None else tree.inclusion_proof(leaf.leaf_index, n)
        inclusions.append(time.perf_counter() - started)
        if leaf is not None:
            if not merkle.verify_inclusion(leaf.leaf_index, n, leaf.hash, path, root):
                raise SystemExit(f"the inclusion proof of position {position} does not verify")
            longest[0] = max(longest[0], len(path))

        m = rng.randint(1, n - 1)
        started = time.perf_counter()
        proof = tree.consistency_proof(m, n)
        consistencies.append(time.perf_counter() - started)
        longest[1] = max(longest[1], len(proof))
    if not merkle.verify_consistency(m, n, tree.root(m), root, proof):
        raise SystemExit(f"the consistency proof from {m} does not verify")
    ledger.close()
    bound = 2 * math.log2(n)
    for label, values in (
        ("tree head (size and root, one read)", heads),
        ("inclusion proof (leaf by position + path)", inclusions),
        ("consistency proof", consistencies),
    ):
        print(
            f"(c) {label:<44} at {n:,} leaves: p50 {percentile(values, 0.5) * 1000:.2f} ms, "
            f"p95 {percentile(values, 0.95) * 1000:.2f} ms"
        )
    print(
        f"    longest inclusion proof {longest[0]} hashes, consistency proof {longest[1]} "
        f"hashes (2·log2 n = {bound:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--part",
        choices=["all", "bulk", "api", "series", "verify", "proofs", "asat"],
        default="all",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "FUNDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--child", choices=["verify", "decode"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return
    base = args.url.partition("?")[0]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    if args.part in ("all", "bulk"):
        part_bulk(base, args.events)
    if args.part in ("all", "verify"):
        part_verify(base, args.events)
    if args.part in ("all", "proofs"):
        part_proofs(base, args.events)
    if args.part in ("all", "series"):  # these two add events to both schemas
        part_series(base, args.events)
    if args.part in ("all", "api"):
        part_api(base, args.events)
    if args.part in ("all", "asat"):
        from scripts.bench import asat

        asat.print_figures(asat.run(args.events, args.url))


if __name__ == "__main__":
    main()
