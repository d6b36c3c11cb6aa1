"""The projector: keeps every read model caught up with the log (rebuilds: `rebuild.py`).

On PostgreSQL it sleeps on LISTEN for the channel the event recorder NOTIFYs on each insert,
with a polling timeout as fallback (a lost notification delays it by one poll interval at
most). On SQLite it polls. Each page of the log is one transaction per read model.

On PostgreSQL several projector processes may run: each read model is applied by the one
that leads it (`leadership.py`); the others wait to take over.

A read model that meets an event it cannot apply (or decode) stops just before it: the
stop is recorded beside the tracking rows (`projection_stops`), logged once, and reported
by `status`; the other read models carry on. A projector tries a stopped read model again
only when it starts (or when a rebuild swapped in another generation).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import structlog

from domain.application import Ledger
from domain.errors import CorruptEventError
from domain.reference.territories import load_territories
from projections.db import ReadModelDatabase
from projections.feed import DEFAULT_PAGE_SIZE, PageGuard, catch_up, position_of
from projections.generations import generations, live_generation
from projections.leadership import NotLeaderError
from projections.listener import EventListener
from projections.notification_log import refresh_log_statistics
from projections.registry import READ_MODELS
from projections.sql import Dialect
from projections.state import UnappliableEventError
from projections.stops import ProjectionStop, forget_passed_stops, record_stop, stopped

if TYPE_CHECKING:
    from projections.leadership import Leadership

log = structlog.get_logger("projector")

# Between two polls of the tracking table while a read waits for a position.
WAIT_STEP = 0.01
# The least time between the starts of two pages of the live projector.
GATHER_SECONDS = 0.02
# How often the live projector checks the event table's planner statistics.
STATISTICS_CHECK_INTERVAL = 600.0


class ProjectionState(StrEnum):
    """Whether a read model is only live, also being rebuilt beside, or stopped."""

    LIVE = "live"
    REBUILDING = "rebuilding"
    STOPPED = "stopped"


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
    # Set when the state is STOPPED.
    error: ProjectionStop | None = None


def status(ledger: Ledger, db: ReadModelDatabase) -> list[ReadModelStatus]:
    """Per read model: its position, the log head, its lag in events and seconds, its state."""
    head = ledger.head_position()
    found = generations(db)
    stops = {stop.name: stop for stop in stopped(db)}
    now = datetime.now(UTC)
    statuses = []
    for name in READ_MODELS:
        mine = [g for g in found if g.read_model == name]
        live = next((g for g in mine if g.live), None)
        building = [g for g in mine if not g.live]
        position = live.position if live else 0
        stop = stops.get(name)
        state = ProjectionState.REBUILDING if building else ProjectionState.LIVE
        statuses.append(
            ReadModelStatus(
                name=name,
                state=ProjectionState.STOPPED if stop else state,
                generation=live.generation if live else None,
                position=position,
                head=head,
                lag_events=max(head - position, 0),
                lag_seconds=_lag_seconds(ledger, position, head, now),
                rebuild_position=building[-1].position if building else None,
                error=stop,
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
    """Follows the log into every read model until stopped.

    A read model that meets an event it cannot apply stops before it: this projector does
    not try it again (see `step`). With a `leadership`, `run` campaigns for every read model
    and applies only those this process leads, each page checking it still does.
    """

    def __init__(
        self,
        ledger: Ledger,
        db: ReadModelDatabase,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        poll_interval: float = 0.5,
        listen: bool = True,
        gather: float = GATHER_SECONDS,
        leadership: Leadership | None = None,
    ) -> None:
        self.ledger = ledger
        self.db = db
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.gather = gather
        self.listen = listen and db.dialect is Dialect.POSTGRES
        self._stop = threading.Event()
        self.leadership = leadership
        # Set to end a wait early: stop(), or this process won or lost a leadership.
        self._wake = threading.Event() if leadership is None else leadership.changed
        self._thread: threading.Thread | None = None
        # The read models this projector stopped, and those not yet recorded as stopped.
        self.stops: dict[str, ProjectionStop] = {}
        self._unrecorded: list[ProjectionStop] = []
        self._tidy = True

    def step(self) -> int:
        """Apply whatever the log holds beyond the read models; return the lowest position.

        A read model meeting an event it cannot apply, or cannot decode, is applied up to
        the event before it, then stopped: recorded, logged once, and left alone by this
        projector while the others carry on (unless a rebuild swaps in another generation
        of it). A database outage raises as it is: the caller waits and steps again.
        """
        self._record_stops()
        while True:
            following = tuple(name for name in self._led() if name not in self._stopped())
            if not following:
                return min(position_of(self.db, name) for name in READ_MODELS)
            try:
                position = self._catch_up(following)
            except NotLeaderError as error:
                # Lost the lead during the page (which rolled back): the new leader goes on.
                log.warning("projector_not_leader", error=str(error))
                return min(position_of(self.db, name) for name in READ_MODELS)
            except UnappliableEventError as error:
                names = following if error.read_model is None else (error.read_model,)
                for name in names:
                    self._stop_before(name, error.position, error.reason)
            except CorruptEventError as error:
                # Every read model not yet past the event stops before it.
                at = error.position or min(position_of(self.db, n) for n in following) + 1
                behind = [n for n in following if position_of(self.db, n) < at]
                for name in behind or following:
                    self._stop_before(name, at, _undecodable(error))
            else:
                if self._tidy:
                    forget_passed_stops(self.db)
                    self._tidy = False
                return position

    def _led(self) -> tuple[str, ...]:
        """The read models this projector applies: those it leads (all, without leadership)."""
        if self.leadership is None:
            return READ_MODELS
        return tuple(name for name in READ_MODELS if self.leadership.leads(name))

    @property
    def _guard(self) -> PageGuard | None:
        return None if self.leadership is None else self.leadership.guard

    def _catch_up(self, names: tuple[str, ...]) -> int:
        if names == READ_MODELS:
            # Each page read and decoded once for all.
            return catch_up(self.ledger, self.db, page_size=self.page_size, guard=self._guard)
        return min(
            catch_up(self.ledger, self.db, name, self.page_size, guard=self._guard)
            for name in names
        )

    def _stopped(self) -> dict[str, ProjectionStop]:
        if self.stops:
            # A generation swapped in by a rebuild is followed afresh.
            for name, stop in list(self.stops.items()):
                if live_generation(self.db, name) != stop.generation:
                    del self.stops[name]
        return self.stops

    def _stop_before(self, name: str, position: int, reason: str) -> None:
        """Apply a read model up to the event before `position`, then stop it there."""
        try:
            catch_up(
                self.ledger, self.db, name, self.page_size, stop=position - 1, guard=self._guard
            )
        except UnappliableEventError as error:
            # An earlier event, in a page of fewer events.
            position, reason = min(position, error.position), error.reason
        except CorruptEventError as error:
            position = min(position, error.position or position)
            reason = _undecodable(error)
        except Exception as error:
            # The stop holds all the same, at the start of the page that failed.
            log.warning("projector_step_failed", error=str(error), kind=type(error).__name__)
        generation = live_generation(self.db, name) or 0
        stop = ProjectionStop(name, generation, position, reason)
        self.stops[name] = stop
        log.error(
            "projection_stopped",
            read_model=name,
            generation=generation,
            position=position,
            reason=reason,
        )
        self._unrecorded.append(stop)
        self._record_stops()

    def _record_stops(self) -> None:
        while self._unrecorded:
            record_stop(self.db, self._unrecorded[0])
            self._unrecorded.pop(0)

    def run(self) -> None:
        """Follow the log until stop() is called; store outages are waited out."""
        log.info("projector_started", listen=self.listen, poll_interval=self.poll_interval)
        # A (re)start tries every read model again, once.
        self.stops.clear()
        self._tidy = True
        checked = -STATISTICS_CHECK_INTERVAL
        stepped = -self.gather
        if self.leadership is not None:
            # What a first page loads (a second or so): loaded before campaigning, not after
            # a takeover.
            load_territories()
            self.leadership.start()
        with self._notifications() as wait, self._leading():
            while not self._stop.is_set():
                # Under a steady write load a page gathers the events of `gather` seconds,
                # not one insert's: far fewer transactions for a few milliseconds of lag.
                self._stop.wait(self.gather - (time.monotonic() - stepped))
                stepped = time.monotonic()
                self._wake.clear()
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
                if self._led():
                    wait(self.poll_interval)
                else:
                    # A follower: new events are not its to apply; it wakes when it leads.
                    self._wake.wait(self.poll_interval)
        log.info("projector_stopped")

    def start(self) -> threading.Thread:
        """Run in a daemon thread (inside the API server)."""
        self._thread = threading.Thread(target=self.run, name="projector", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to stop and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @contextmanager
    def _leading(self) -> Iterator[None]:
        """Give up every leadership when the loop ends (a follower takes over at once)."""
        try:
            yield
        finally:
            if self.leadership is not None:
                self.leadership.stop()

    @contextmanager
    def _notifications(self) -> Iterator[Callable[[float], None]]:
        """Yield a wait(timeout) that returns early when the store NOTIFYs a new event (or
        this process wins or loses a leadership)."""
        if not self.listen:

            def sleep(timeout: float) -> None:
                self._wake.wait(timeout)

            yield sleep
            return
        listener = EventListener(self.ledger, self._stop, self._wake)
        # LISTEN before the first catch-up: an event recorded in between is not missed.
        listener.connect()
        try:
            yield listener.wait
        finally:
            listener.close()


def _undecodable(error: CorruptEventError) -> str:
    """Why an event cannot be decoded, naming it but for its position."""
    return (
        f"the event of aggregate {error.originator_id}, version {error.version}, "
        f"cannot be decoded: {error.reason}"
    )
