"""The log's exports at size: `funding export` (ndjson, csv) and `funding import-log`.

Usage: .venv/bin/python scripts/bench/exports.py [--sizes 20000,100000] [--url postgresql://…]

For each size, a store of that many synthetic events (a PostgreSQL schema of its own, or
SQLite with `--url sqlite`), then, each in its own process: `funding export --format
ndjson` and `--format csv` to a file, `funding import-log --no-rebuild` of the ndjson into
an empty store, then `funding rebuild` of its read models. Each prints events/s and the
process's peak RSS, beside the same-run reference: reading and decoding the same events page by page
(`select_notifications` and the mapper, nothing written). Constant memory shows as the
same peak RSS at every size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from demo.synthetic import generate
from domain.application import Ledger
from eventstore.settings import library_env

PAGE = 1000


def _store(base: str, workdir: Path) -> tuple[str, str]:
    """A new empty store: (database URL, reporting schema)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    if base == "sqlite":
        return f"sqlite:///{workdir / f'{name}.sqlite3'}", "reporting"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return f"{base}?schema={name}", f"reporting_{name}"


def _drop(base: str, url: str, reporting: str) -> None:
    if base == "sqlite":
        return
    schema = url.partition("schema=")[2]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{reporting}" CASCADE')


def _read_and_decode(url: str) -> float:
    """Seconds to read and decode every event, page by page (the reference)."""
    ledger = Ledger(env=library_env(url))
    try:
        started = time.perf_counter()
        after = 0
        while page := ledger.recorder.select_notifications(start=after + 1, limit=PAGE):
            for notification in page:
                ledger.mapper.to_domain_event(notification)
            after = page[-1].id
        return time.perf_counter() - started
    finally:
        ledger.close()


def _funding(url: str, reporting: str, *args: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `funding` command."""
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": url,
        "FUNDING_REPORTING_SCHEMA": reporting,
        "FUNDING_LOG_FORMAT": "json",
    }
    funding = str(Path(sys.executable).with_name("funding"))
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", funding, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"funding {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - started, int(done.stderr.strip().splitlines()[-1])


def run(base: str, size: int, workdir: Path) -> None:
    url, reporting = _store(base, workdir)
    target, target_reporting = _store(base, workdir)
    try:
        ledger = Ledger(env=library_env(url))
        events = generate(ledger, size)
        ledger.close()
        reference = _read_and_decode(url)
        export = workdir / "log.ndjson"
        rows: list[tuple[str, float, int]] = []
        seconds, rss = _funding(
            url, reporting, "export", "--format", "ndjson", "--output", str(export)
        )
        rows.append(("export ndjson", seconds, rss))
        seconds, rss = _funding(
            url, reporting, "export", "--format", "csv", "--output", str(workdir / "log.csv")
        )
        rows.append(("export csv", seconds, rss))
        seconds, rss = _funding(target, target_reporting, "import-log", "--no-rebuild", str(export))
        rows.append(("import-log --no-rebuild", seconds, rss))
        seconds, rss = _funding(target, target_reporting, "rebuild")
        rows.append(("then funding rebuild", seconds, rss))
        megabytes = export.stat().st_size / 2**20
        print(
            f"{events:,} events (ndjson {megabytes:.0f} MiB); reference read+decode "
            f"{events / reference:,.0f} events/s"
        )
        for label, seconds, rss in rows:
            rate = events / seconds
            print(
                f"  {label:<24} {seconds:7.1f} s {rate:>9,.0f} events/s "
                f"({rate * reference / events:.2f}x reference)  peak RSS {rss / 1024:,.0f} MiB"
            )
    finally:
        _drop(base, url, reporting)
        _drop(base, target, target_reporting)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sizes", default="20000,100000")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as workdir:
            run(args.url, size, Path(workdir))


if __name__ == "__main__":
    main()
