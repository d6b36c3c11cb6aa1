"""Projector processes on one PostgreSQL, and what the database says about their leadership."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from projections.db import ReadModelDatabase
from projections.leaders import leaders
from projections.leadership import LEADER, TERMS
from projections.registry import READ_MODELS, REGISTERED
from tests.faults.conftest import FUNDING


def until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    """Wait for a state of the database, looking again every 20 ms; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        pause.wait(0.02)


def start_projector(
    store_url: str, reporting_schema: str, log: Path, page_size: int = 1000
) -> subprocess.Popen[bytes]:
    """A `funding projector` process (its output appended to `log`)."""
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": store_url,
        "FUNDING_REPORTING_SCHEMA": reporting_schema,
        "FUNDING_LOG_FORMAT": "json",
        "FUNDING_LOG_LEVEL": "INFO",
        "FUNDING_POLL_INTERVAL": "0.1",
    }
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own console script
            [FUNDING, "projector", "--page-size", str(page_size)],
            env=env,
            stdout=out,
            stderr=out,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a projector process if it still runs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def leads_all(db: ReadModelDatabase, pid: int) -> bool:
    """Whether the process `pid` leads every read model, as the database says."""
    found = leaders(db)
    return all(
        (leader := found[name].leader) is not None and leader.pid == pid for name in READ_MODELS
    )


def followers(db: ReadModelDatabase) -> int:
    """The fewest processes waiting to take over any read model."""
    return min(found.followers or 0 for found in leaders(db).values())


@dataclass(frozen=True)
class TermRow:
    """A leadership term that applied pages: who, and which positions, when."""

    read_model: str
    term: int
    pid: int
    first: int
    last: int
    pages: int
    first_page_at: datetime
    last_page_at: datetime


def applied_terms(db: ReadModelDatabase) -> dict[str, list[TermRow]]:
    """Per read model, the terms that applied pages, in order."""
    with db.transaction(readonly=True) as cur:
        cur.execute(
            "SELECT read_model, term, pid, first_position, last_position, pages, "  # noqa: S608
            f"first_page_at, last_page_at FROM {db.table(TERMS)} "
            "WHERE role = ? AND pages > 0 ORDER BY read_model, term",
            (LEADER,),
        )
        rows = [TermRow(*row) for row in cur.fetchall()]
    return {name: [row for row in rows if row.read_model == name] for name in READ_MODELS}


def assert_applied_once_by_one_at_a_time(db: ReadModelDatabase, head: int) -> None:
    """Each read model's terms applied positions 1..head in order, without gap or overlap,
    one term after the other in time: no position applied twice, never two at once."""
    for name, terms in applied_terms(db).items():
        assert terms, f"no term applied {name}"
        assert terms[0].first == 1, name
        assert terms[-1].last == head, name
        for before, after in itertools.pairwise(terms):
            assert after.first == before.last + 1, (name, before, after)
            assert after.first_page_at > before.last_page_at, (name, before, after)
        assert sum(t.last - t.first + 1 for t in terms) == head


def differences(url: str, schema: str, other: str) -> dict[str, int]:
    """Rows of each read model's view in one reporting schema and not the other (both ways)."""
    found = {}
    with psycopg.connect(url.partition("?")[0], autocommit=True) as conn:
        for model in REGISTERED:
            for view in model.layout.views:
                row = conn.execute(
                    f"SELECT (SELECT COUNT(*) FROM (SELECT * FROM {schema}.{view} EXCEPT ALL "  # noqa: S608
                    f"SELECT * FROM {other}.{view}) a) + (SELECT COUNT(*) FROM (SELECT * FROM "
                    f"{other}.{view} EXCEPT ALL SELECT * FROM {schema}.{view}) b), "
                    f"(SELECT COUNT(*) FROM {schema}.{view})"
                ).fetchone()
                assert row is not None
                found[view] = int(row[0])
                assert int(row[1]) > 0 or view in ("conventions", "project_conventions")
    return found
