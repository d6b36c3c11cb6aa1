"""The projector: keeps every read model caught up with the log, and rebuilds them blue/green.

On PostgreSQL it sleeps on LISTEN for the channel the event recorder NOTIFYs on each insert,
with a polling timeout as fallback (a lost notification delays it by one poll interval at
most). On SQLite it polls. Each page of the log is one transaction per read model.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog

from domain.application import Ledger
from projections.db import Dialect, ReadModelDatabase
from projections.events import refresh_log_statistics
from projections.schema import READ_MODELS, generations, layout
from projections.views import (
    DEFAULT_PAGE_SIZE,
    catch_up,
    create_generation,
    position_of,
    settle_all,
    swap,
)

log = structlog.get_logger("projector")

# Between two polls of the tracking table while a read waits for a position.
WAIT_STEP = 0.01
# The least time between the starts of two pages of the live projector.
GATHER_SECONDS = 0.02
# How often the live projector checks the event table's planner statistics.
STATISTICS_CHECK_INTERVAL = 600.0
# Events per transaction of a rebuild.
REBUILD_PAGE_SIZE = 20_000
# Allocations between two collections of the youngest objects during a rebuild.
REBUILD_GC_THRESHOLD = 100_000


class ProjectionState(StrEnum):
    """Whether a read model is only live, or also being rebuilt beside."""

    LIVE = "live"
    REBUILDING = "rebuilding"


@dataclass(frozen=True, slots=True)
class ReadModelStatus:
    """Where a read model stands against the log."""

    name: str
    state: ProjectionState
    generation: int | None
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    rebuild_position: int | None


def status(ledger: Ledger, db: ReadModelDatabase) -> list[ReadModelStatus]:
    """Per read model: its position, the log head, and its lag in events and seconds."""
    head = ledger.head_position()
    found = generations(db)
    now = datetime.now(UTC)
    statuses = []
    for name in READ_MODELS:
        mine = [g for g in found if g.read_model == name]
        live = next((g for g in mine if g.live), None)
        building = [g for g in mine if not g.live]
        position = live.position if live else 0
        statuses.append(
            ReadModelStatus(
                name=name,
                state=ProjectionState.REBUILDING if building else ProjectionState.LIVE,
                generation=live.generation if live else None,
                position=position,
                head=head,
                lag_events=max(head - position, 0),
                lag_seconds=_lag_seconds(ledger, position, head, now),
                rebuild_position=building[-1].position if building else None,
            )
        )
    return statuses


def _lag_seconds(ledger: Ledger, position: int, head: int, now: datetime) -> float:
    # The lag in time is the age of the oldest event not yet applied.
    if position >= head:
        return 0.0
    page = ledger.recorder.select_notifications(start=position + 1, limit=1)
    if not page:
        return 0.0
    with suppress(ValueError, KeyError, TypeError):
        stamp = json.loads(page[0].state)["timestamp"]["_data_"]
        return max((now - datetime.fromisoformat(stamp)).total_seconds(), 0.0)
    return 0.0


def wait_for_position(
    db: ReadModelDatabase,
    position: int,
    timeout: float,
    read_models: tuple[str, ...] = READ_MODELS,
) -> int:
    """Wait until the read models reach a log position; return the lowest position reached.

    The caller compares the result with `position`: lower means the wait timed out.
    """
    deadline = time.monotonic() + timeout
    while True:
        reached = min(position_of(db, name) for name in read_models)
        if reached >= position or time.monotonic() >= deadline:
            return reached
        time.sleep(WAIT_STEP)


class Projector:
    """Follows the log into every read model until stopped."""

    def __init__(
        self,
        ledger: Ledger,
        db: ReadModelDatabase,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        poll_interval: float = 0.5,
        listen: bool = True,
        gather: float = GATHER_SECONDS,
    ) -> None:
        self.ledger = ledger
        self.db = db
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.gather = gather
        self.listen = listen and db.dialect is Dialect.POSTGRES
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> int:
        """Apply whatever the log holds beyond the read models; return the position reached."""
        return catch_up(self.ledger, self.db, page_size=self.page_size)

    def run(self) -> None:
        """Follow the log until stop() is called; store outages are waited out."""
        log.info("projector_started", listen=self.listen, poll_interval=self.poll_interval)
        checked = -STATISTICS_CHECK_INTERVAL
        stepped = -self.gather
        with self._notifications() as wait:
            while not self._stop.is_set():
                # Under a steady write load a page gathers the events of `gather` seconds,
                # not one insert's: far fewer transactions for a few milliseconds of lag.
                self._stop.wait(self.gather - (time.monotonic() - stepped))
                stepped = time.monotonic()
                try:
                    if time.monotonic() - checked >= STATISTICS_CHECK_INTERVAL:
                        # Auditors and rebuilds read the log from its start: keep the
                        # planner's idea of its size current, autovacuum or not.
                        if refresh_log_statistics(self.ledger.recorder):
                            log.info("log_statistics_refreshed")
                        checked = time.monotonic()
                    position = self.step()
                except Exception as error:
                    # The loop outlives store outages: log, back off, try again.
                    log.warning(
                        "projector_step_failed", error=str(error), kind=type(error).__name__
                    )
                    self._stop.wait(max(self.poll_interval, 1.0))
                    continue
                log.debug("projector_caught_up", position=position)
                wait(self.poll_interval)
        log.info("projector_stopped")

    def start(self) -> threading.Thread:
        """Run in a daemon thread (inside the API server)."""
        self._thread = threading.Thread(target=self.run, name="projector", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to stop and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @contextmanager
    def _notifications(self) -> Iterator[Callable[[float], None]]:
        """Yield a wait(timeout) that returns early when the store NOTIFYs a new event."""
        if not self.listen:

            def sleep(timeout: float) -> None:
                self._stop.wait(timeout)

            yield sleep
            return
        listener = _Listener(self.ledger, self._stop)
        # LISTEN before the first catch-up: an event recorded in between is not missed.
        listener.connect()
        try:
            yield listener.wait
        finally:
            listener.close()


class _Listener:
    """A LISTEN connection on the event table's channel; reconnects after an outage."""

    def __init__(self, ledger: Ledger, stop: threading.Event) -> None:
        self.ledger = ledger
        self.stop = stop
        self.channel: str = getattr(ledger.recorder, "channel_name", "")
        self.conn: Any = None

    def _connect(self) -> Any:
        import psycopg
        from psycopg.conninfo import make_conninfo

        datastore: Any = getattr(self.ledger.recorder, "datastore", None)
        pool = datastore.pool
        settings = {k: v for k, v in pool.kwargs.items() if isinstance(v, str | int)}
        conn = psycopg.connect(make_conninfo(pool.conninfo, **settings), autocommit=True)
        conn.execute(f'LISTEN "{self.channel}"')
        return conn

    def connect(self) -> None:
        """Start listening (a failure leaves the projector polling until a later retry)."""
        try:
            self.conn = self._connect()
        except Exception as error:
            log.warning("projector_listen_failed", error=str(error))

    def wait(self, timeout: float) -> None:
        if self.stop.is_set():
            return
        try:
            if self.conn is None:
                self.conn = self._connect()
            # Short slices, so that stop() is honoured promptly.
            deadline = time.monotonic() + timeout
            while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
                if any(True for _ in self.conn.notifies(timeout=min(left, 0.5), stop_after=1)):
                    return
        except Exception as error:
            # Fall back to polling until the connection comes back.
            log.warning("projector_listen_failed", error=str(error))
            self.close()
            self.stop.wait(timeout)

    def close(self) -> None:
        if self.conn is not None:
            with suppress(Exception):
                self.conn.close()
            self.conn = None


def rebuild(
    ledger: Ledger,
    db: ReadModelDatabase,
    read_model: str | None = None,
    *,
    page_size: int = REBUILD_PAGE_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Build read models afresh beside the live ones, then swap them in; return the position.

    Without `read_model`, every read model is rebuilt in one pass over the log (each page
    read and decoded once). Each new generation is fed in bulk to the log's head, then
    settled (cubes summed from the facts, readers' indexes built), caught up with what
    arrived meanwhile, and swapped in. Dashboards keep reading the live generations until
    each swap, which is one transaction. An unfinished rebuild (a crash, an interruption)
    is resumed, not restarted.
    """
    with _few_collections():
        return _rebuild(ledger, db, read_model, page_size, progress)


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
) -> int:
    names = READ_MODELS if read_model is None else (layout(read_model).name,)
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
        )
    settle_all(db, targets)
    # What arrived while settling, in the normal way; later events are the live projector's.
    position = catch_up(ledger, db, page_size=page_size, generations=targets, parallel=True)
    for name, generation in targets.items():
        swap(db, name, generation)
        log.info("read_model_rebuilt", read_model=name, generation=generation, position=position)
    return position
