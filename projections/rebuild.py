"""Rebuilding read models blue/green: fed in bulk beside the live ones, then swapped in."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from domain.application import Ledger
from projections.db import ReadModelDatabase
from projections.feed import PageGuard, catch_up, position_of
from projections.generations import create_generation, generations, settle_all, swap
from projections.notification_log import refresh_log_statistics
from projections.registry import READ_MODELS, registered

log = structlog.get_logger("projector")

# Events per transaction of a rebuild.
REBUILD_PAGE_SIZE = 20_000
# Allocations between two collections of the youngest objects during a rebuild.
REBUILD_GC_THRESHOLD = 100_000


def rebuild(
    ledger: Ledger,
    db: ReadModelDatabase,
    read_model: str | None = None,
    *,
    page_size: int = REBUILD_PAGE_SIZE,
    progress: Callable[[int, int], None] | None = None,
    guard: PageGuard | None = None,
) -> int:
    """Build read models afresh beside the live ones, then swap them in; return the position.

    Without `read_model`, every read model is rebuilt in one pass over the log (each page
    read and decoded once). Each new generation is fed in bulk to the log's head, then
    settled (cubes summed from the facts, readers' indexes built), caught up with what
    arrived meanwhile, and swapped in. Dashboards keep reading the live generations until
    each swap, which is one transaction. An unfinished rebuild (a crash, an interruption)
    is resumed, not restarted. Each page, and each swap, runs `guard` before its commit (on
    PostgreSQL, the check that this rebuild still holds the read model's rebuild lock:
    `leadership.py`).
    """
    with _few_collections():
        return _rebuild(ledger, db, read_model, page_size, progress, guard)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect garbage rarely: a rebuild makes many short-lived objects and no cycles.

    Without this, Python's collector spends as long scanning the objects of each page (and
    every module's) as the rebuild spends decoding the events.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], REBUILD_GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _rebuild(
    ledger: Ledger,
    db: ReadModelDatabase,
    read_model: str | None,
    page_size: int,
    progress: Callable[[int, int], None] | None,
    guard: PageGuard | None,
) -> int:
    names = READ_MODELS if read_model is None else (registered(read_model).name,)
    # The whole log is about to be read in pages: let the planner know how big it is.
    if refresh_log_statistics(ledger.recorder):
        log.info("log_statistics_refreshed")
    found = generations(db)
    targets: dict[str, int] = {}
    for name in names:
        pending = [g.generation for g in found if g.read_model == name and not g.live]
        targets[name] = pending[-1] if pending else create_generation(db, name, bulk=True)
    position = min(position_of(db, name, generation) for name, generation in targets.items())
    chunk = page_size * 10
    while True:
        head = ledger.head_position()
        if progress is not None:
            progress(position, head)
        if position >= head:
            break
        position = catch_up(
            ledger,
            db,
            page_size=page_size,
            generations=targets,
            stop=position + chunk,
            parallel=True,
            guard=guard,
        )
    settle_all(db, targets)
    # What arrived while settling, in the normal way; later events are the live projector's.
    position = catch_up(
        ledger, db, page_size=page_size, generations=targets, parallel=True, guard=guard
    )
    for name, generation in targets.items():
        swap(db, name, generation, guard)
        log.info("read_model_rebuilt", read_model=name, generation=generation, position=position)
    return position
