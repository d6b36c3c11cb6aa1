"""Group commit: writes that arrive together are recorded in one transaction.

Recording takes the event table's lock (PostgreSQL) or the database's write lock (SQLite)
until the commit is on disk, so concurrent writers queue one behind the other. Here the
first writer to arrive records, and those arriving meanwhile wait; when it is done, the next
one records everything that queued up in one transaction: one lock and one disk flush for
the whole group. Each writer gets back the positions of its own events.

A group that conflicts (one writer's version was taken meanwhile) is recorded again writer by
writer, so that each gets its own outcome: a conflict is never reported to a writer who had
none. A group the store fails to record fails for each of its writers.

Each store's infrastructure factory (`eventstore.memory`, `.sqlite`, `.postgres`) builds an
application's event store on it; the application's own `recorder` stays the store's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    IntegrityError,
    StoredEvent,
)

# The most events one transaction records for a group.
MAX_GROUP_EVENTS = 1000


@dataclass(eq=False)
class _Write:
    events: Sequence[StoredEvent]
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    done: bool = False
    ids: Sequence[int] = ()
    error: BaseException | None = None


class GroupCommit:
    """Records the stored events of concurrent writers in shared transactions.

    It stands in for the recorder an event store writes through: `insert_events` is grouped,
    everything else is the recorder's.
    """

    def __init__(self, recorder: ApplicationRecorder, max_events: int = MAX_GROUP_EVENTS) -> None:
        self.recorder = recorder
        self.max_events = max_events
        self._lock = threading.Lock()
        self._queue: list[_Write] = []
        self._queued = threading.Condition(self._lock)  # told whenever a writer queues
        self._leading = False

    def insert(self, events: Sequence[StoredEvent]) -> Sequence[int]:
        """Record the events in one transaction (perhaps with others'); return their positions."""
        write = _Write(events)
        with self._lock:
            self._queue.append(write)
            self._queued.notify_all()
            if not self._leading:
                self._leading = write.lead = True
        while not write.lead:
            write.ready.wait()
            write.ready.clear()
            if write.done:
                return self._outcome(write)
        # Leading: record groups until our own write is done, then pass the lead on.
        try:
            while not write.done:
                self._record(self._next_group(write))
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.ready.set()
                else:
                    self._leading = False
        return self._outcome(write)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """The recorder's method, grouped (a write with tracking or other options is not)."""
        # The library passes `tracking=None` with every save: only a real option opts out.
        if any(value is not None for value in kwargs.values()):
            return list(self.recorder.insert_events(stored_events, **kwargs) or ())
        return self.insert(stored_events)

    def __getattr__(self, name: str) -> Any:
        # Everything else (reads of events and notifications) is the recorder's own.
        return getattr(self.recorder, name)

    def wait_queued(self, count: int, timeout: float) -> bool:
        """Wait until `count` writers wait their turn (for tests and diagnostics)."""
        with self._queued:
            return self._queued.wait_for(lambda: len(self._queue) >= count, timeout)

    def _next_group(self, leader: _Write) -> list[_Write]:
        with self._lock:
            group: list[_Write] = []
            size = 0
            for write in self._queue:
                if group and size + len(write.events) > self.max_events:
                    break
                group.append(write)
                size += len(write.events)
            if leader not in group and leader in self._queue:
                # Too many ahead of it: the leader goes first with what fits after it.
                group = [leader, *group[:-1]] if len(group) > 1 else [leader]
            for write in group:
                self._queue.remove(write)
            return group

    def _record(self, group: list[_Write]) -> None:
        try:
            if len(group) > 1 and self._record_together(group):
                return
            for write in group:
                try:
                    write.ids = self._insert(write.events)
                except Exception as error:  # raised in its own writer's thread
                    write.error = error
        except BaseException as error:
            # Interrupted: no writer of the group may wait for ever.
            for write in group:
                if not write.ids and write.error is None:
                    write.error = error
            raise
        finally:
            self._finish(group)

    def _record_together(self, group: list[_Write]) -> bool:
        """Record the group in one transaction; False if a conflict calls for one by one."""
        try:
            ids = self._insert([e for write in group for e in write.events])
        except IntegrityError:
            return False  # someone's version conflicts: each writer learns its own outcome
        except Exception as error:
            # The store failed (an outage, say): the same answer for every writer, at once.
            for write in group:
                write.error = error
            return True
        start = 0
        for write in group:
            write.ids = ids[start : start + len(write.events)]
            start += len(write.events)
        return True

    def _insert(self, events: Sequence[StoredEvent]) -> Sequence[int]:
        ids = list(self.recorder.insert_events(list(events)) or ())
        if len(ids) != len(events):
            raise RuntimeError("the recorder did not return the positions of the events")
        return ids

    def _finish(self, group: list[_Write]) -> None:
        for write in group:
            write.done = True
            if not write.lead:
                write.ready.set()

    @staticmethod
    def _outcome(write: _Write) -> Sequence[int]:
        if write.error is not None:
            raise write.error
        return write.ids


def grouped(recorder: AggregateRecorder | None) -> AggregateRecorder | None:
    """The recorder an event store writes through: an application's events by group commit.

    Snapshots (an aggregate recorder) are written as they come.
    """
    if isinstance(recorder, ApplicationRecorder):
        return cast(ApplicationRecorder, GroupCommit(recorder))
    return recorder
