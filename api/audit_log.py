"""The auditor's reading of the global log: filters, bounded scans, each event with its leaf.

Filters on what only the stored bytes hold (actor, directorate, recording time) need each
event decoded, so a request looks at a bounded *window* of the log: at most `SCAN_WINDOW`
positions after `after` (with `aggregate_id`, at most `SCAN_WINDOW` of that aggregate's
events, found by an indexed read). A sparse filter answers fewer events than `limit`, or
none, and `next_after` says where the next request carries on: a filter never makes one
request read a million events. `type` is read from the stored topic, without decoding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import Notification

from api.answers.audit import LogEventOut
from api.problems import ProblemError
from domain.application import Ledger
from domain.outcomes import event_data
from domain.reference import DIRECTORATES
from eventstore.leaves import Leaf
from eventstore.tree import log_tree

# Positions of the log (or events of one aggregate) one request looks at, at most.
SCAN_WINDOW = 10_000
# Events read from the store at a time within a window.
READ_PAGE = 1000
# A date without a time is a day in this zone.
PARIS = ZoneInfo("Europe/Paris")


def event_types() -> frozenset[str]:
    """The class names of every event the domain records (what `type=` filters on)."""
    names: set[str] = set()
    pending = list(Aggregate.__subclasses__())
    while pending:
        aggregate = pending.pop()
        pending.extend(aggregate.__subclasses__())
        if not aggregate.__module__.startswith("domain."):
            continue
        names.update(
            name
            for name, member in vars(aggregate).items()
            if isinstance(member, type)
            and issubclass(member, CanMutateAggregate)
            and name != "Event"
        )
    return frozenset(names)


def type_of(topic: str) -> str:
    """The event's class name, from its stored topic (`module:Outer.Inner` → `Inner`)."""
    return topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def aggregate_type_of(topic: str) -> str:
    """The aggregate's class name, from an event's stored topic."""
    return topic.split(":", 1)[-1].split(".")[0]


def shown_data(event: object) -> dict[str, Any]:
    """An event's own fields as a read shows them: its class's `secret_fields` left out."""
    hidden: frozenset[str] = getattr(type(event), "secret_fields", frozenset())
    return {k: v for k, v in event_data(event).items() if k not in hidden}


def instant(name: str, value: str, *, end_of_day: bool) -> datetime:
    """An ISO timestamp with its zone, or a date: that day in Europe/Paris (its first
    instant, or with `end_of_day` its last); 422 naming the parameter otherwise."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end_of_day:
                day += timedelta(days=1)
            start = datetime.combine(day, time(), tzinfo=PARIS)
            return start - timedelta(microseconds=1) if end_of_day else start
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(name, "expected an ISO 8601 timestamp with zone or a date") from None
    if moment.tzinfo is None:
        raise _invalid(name, "a timestamp needs its zone, e.g. 2024-12-31T23:59:59+01:00")
    return moment


def _invalid(name: str, message: str) -> ProblemError:
    return ProblemError(
        422, f"{name}: {message}", extra={"errors": [{"loc": ["query", name], "msg": message}]}
    )


@dataclass(frozen=True)
class LogFilter:
    """What an auditor asks of the log; every field optional."""

    actor: str | None = None
    directorate: str | None = None
    types: frozenset[str] = frozenset()
    aggregate_id: UUID | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None

    @classmethod
    def parse(
        cls,
        *,
        actor: str | None = None,
        directorate: str | None = None,
        types: Sequence[str] = (),
        aggregate_id: UUID | None = None,
        recorded_from: str | None = None,
        recorded_to: str | None = None,
    ) -> LogFilter:
        """Check the query's values (422 naming the parameter) and build the filter."""
        if directorate is not None and directorate not in DIRECTORATES:
            raise _invalid(
                "directorate", f"unknown directorate; expected one of {', '.join(DIRECTORATES)}"
            )
        wanted = frozenset(t.strip() for value in types for t in value.split(",") if t.strip())
        if unknown := sorted(wanted - event_types()):
            raise _invalid(
                "type",
                f"unknown event type {', '.join(unknown)}; "
                f"expected some of {', '.join(sorted(event_types()))}",
            )
        start = (
            None
            if recorded_from is None
            else instant("recorded_from", recorded_from, end_of_day=False)
        )
        end = None if recorded_to is None else instant("recorded_to", recorded_to, end_of_day=True)
        if start is not None and end is not None and start > end:
            raise _invalid("recorded_to", "is before recorded_from")
        return cls(actor, directorate, wanted, aggregate_id, start, end)

    def keeps_topic(self, topic: str) -> bool:
        """Whether an event of this topic may match (`type`), before decoding it."""
        return not self.types or type_of(topic) in self.types

    def keeps(self, event: LogEventOut) -> bool:
        """Whether a decoded event matches the filters read from its stored bytes."""
        return (
            (self.actor is None or event.actor == self.actor)
            and (self.directorate is None or event.directorate == self.directorate)
            and (self.recorded_from is None or event.recorded_at >= self.recorded_from)
            and (self.recorded_to is None or event.recorded_at <= self.recorded_to)
        )


@dataclass(frozen=True)
class Window:
    """The part of the log a request looks at: positions (after, through]."""

    after: int
    through: int
    head: int
    # With `aggregate_id`: that aggregate's events in the window, {version: position}.
    aggregate_id: UUID | None = None
    positions: dict[int, int] | None = None


def window(ledger: Ledger, after: int, log_filter: LogFilter) -> Window:
    """The window after `after`: SCAN_WINDOW positions, or SCAN_WINDOW of one aggregate's."""
    head = ledger.head_position()
    aggregate = log_filter.aggregate_id
    if aggregate is None:
        return Window(after, max(after, min(after + SCAN_WINDOW, head)), head)
    later = sorted(
        (p, v) for v, p in ledger.positions.event_positions(aggregate).items() if p > after
    )
    inside = later[:SCAN_WINDOW]
    through = inside[-1][0] if len(later) > SCAN_WINDOW else max(after, head)
    return Window(after, through, head, aggregate, {v: p for p, v in inside})


@dataclass
class Scan:
    """Matching events of a window, in log order; `last` is the last position looked at."""

    ledger: Ledger
    win: Window
    log_filter: LogFilter
    last: int = 0

    def __iter__(self) -> Iterator[LogEventOut]:
        self.last = self.win.after
        pages = (
            _aggregate_pages(self.ledger, self.win)
            if self.win.positions is not None
            else (_log_pages(self.ledger, self.win))
        )
        for page in pages:
            candidates = [n for n in page if self.log_filter.keeps_topic(n.topic)]
            found = leaves(self.ledger, [n.id for n in candidates]) if candidates else {}
            for notification in page:
                self.last = notification.id
                if not self.log_filter.keeps_topic(notification.topic):
                    continue
                event = log_event(self.ledger, notification, found.get(notification.id))
                if self.log_filter.keeps(event):
                    yield event
        self.last = self.win.through

    def next_after(self, limit_reached: bool) -> int | None:
        """Where the next request carries on: after the last event answered when `limit`
        was reached, else after the window; None once the window reached the log's head."""
        if limit_reached:
            return self.last
        return None if self.win.through >= self.win.head else self.win.through


def _log_pages(ledger: Ledger, win: Window) -> Iterator[list[Notification]]:
    start = win.after
    while start < win.through:
        page = list(
            ledger.recorder.select_notifications(start=start + 1, limit=READ_PAGE, stop=win.through)
        )
        if not page:
            return
        yield page
        start = page[-1].id


def _aggregate_pages(ledger: Ledger, win: Window) -> Iterator[list[Notification]]:
    positions = win.positions or {}
    versions = sorted(positions)
    if win.aggregate_id is None:
        return
    for start in range(0, len(versions), READ_PAGE):
        chunk = versions[start : start + READ_PAGE]
        stored = ledger.recorder.select_events(win.aggregate_id, gt=chunk[0] - 1, lte=chunk[-1])
        yield [
            Notification(
                id=positions[s.originator_version],
                originator_id=s.originator_id,
                originator_version=s.originator_version,
                topic=s.topic,
                state=s.state,
            )
            for s in stored
            if s.originator_version in positions
        ]


def leaves(ledger: Ledger, positions: Sequence[int]) -> dict[int, Leaf]:
    """{position: leaf} of the events at these positions (one read of the stored tree)."""
    store = log_tree(ledger.recorder).store
    return {leaf.position: leaf for leaf in store.leaves_at_positions(set(positions))}


def log_event(ledger: Ledger, notification: Notification, leaf: Leaf | None) -> LogEventOut:
    """One stored event as the audit log answers it (decoded: MapperDeserialisationError
    when its bytes cannot be, named by the API's handler)."""
    event: Any = ledger.mapper.to_domain_event(notification)
    meta = dict(getattr(event, "meta", {}))
    topic = notification.topic
    return LogEventOut(
        position=notification.id,
        leaf_index=None if leaf is None else leaf.leaf_index,
        leaf_hash=None if leaf is None else leaf.hash.hex(),
        aggregate_id=str(notification.originator_id),
        aggregate_type=aggregate_type_of(topic),
        version=notification.originator_version,
        type=type(event).__name__,
        recorded_at=event.timestamp,
        actor=meta.get("actor") or None,
        directorate=meta.get("directorate") or None,
        correlation_id=meta.get("correlation_id") or None,
        data=shown_data(event),
    )
