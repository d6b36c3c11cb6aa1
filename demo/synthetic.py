"""Generated ledgers for tests and benchmarks: the bulk load of `funding demo --size N`.

Every generated ledger is the demo's stories and a national spread, recorded as the
ledger's commands would record them (`demo/bulk.py`), many events per transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from demo.bulk import ChunkReport, load_bulk
from domain.application import Ledger


def generate(
    ledger: Ledger,
    events: int,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Record about `events` events (never fewer) into an empty store; return how many.

    With `env` (the ledger's settings, PostgreSQL only), one process per core records them.
    """
    done = 0

    def advance(report: ChunkReport) -> None:
        nonlocal done
        done += report.events
        if progress is not None:
            progress(done)

    return load_bulk(ledger, events, env=env, seed=seed, progress=advance).events
