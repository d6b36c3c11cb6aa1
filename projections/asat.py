"""The portfolio as at a past time: the log replayed up to an instant, asked as `/v1/totals` is.

**Recorded up to T.** Every event carries its recording time (the `timestamp` the ledger
gives it as it records it, in UTC). The events recorded up to T are the longest prefix of
the log whose events were all recorded at or before T: the replay stops at the first event
recorded after T, even if a later one carries an earlier time (writes committed out of the
order of their clocks, a few milliseconds apart). So a report covers a prefix of the log,
`tree_size` events long, and grows only by appending as T moves on.

The replay feeds a scratch generation of `totals` (see `scratch.py`) with the very feed the
projector uses, in bulk pages streamed from the log in constant memory, then answers with
the very query code of `/v1/totals` (on the scratch generation's facts, which the cubes
only sum), and drops it.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from domain.application import Ledger
from domain.errors import CorruptEventError, InvalidValueError
from projections.db import ReadModelDatabase
from projections.events import Change
from projections.feed import apply_changes
from projections.generations import create_generation
from projections.layout import generation_table
from projections.notification_log import Row, decode_rows, select_rows
from projections.read_ahead import read_ahead
from projections.registry import TOTALS
from projections.scratch import scratch_database, unlogged
from projections.sql import Dialect
from projections.totals.queries import Totals, check_question, totals
from projections.totals.tables import CUBES

PARIS = ZoneInfo("Europe/Paris")
# Events per transaction of the replay (as a rebuild's pages).
ASAT_PAGE_SIZE = 20_000
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# An offset whose `+` a query string turned into a space: `…T12:00:00 01:00`.
SPACED_OFFSET = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?) (\d{2}:?\d{2})$"
)
LAST_MICROSECOND = time(23, 59, 59, 999_999)

Progress = Callable[[int, int], None]


class AsAtBusyError(RuntimeError):
    """Every slot for as-at reports stayed taken for the whole wait: try again shortly."""


def parse_as_at(text: str, now: datetime | None = None) -> datetime:
    """Return the instant an `as_at` names (aware), or raise InvalidValueError.

    A date alone (2024-12-31) is the end of that day in Europe/Paris (its last
    microsecond); a timestamp needs its offset (`Z`, `+01:00`); an instant still to come
    is refused.
    """
    value = text.strip()
    if DATE_ONLY.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise InvalidValueError("as_at", f"{value!r} is not a date") from None
        at = datetime.combine(day, LAST_MICROSECOND, tzinfo=PARIS)
    else:
        spaced = SPACED_OFFSET.match(value)
        if spaced is not None:
            value = f"{spaced.group(1)}+{spaced.group(2)}"
        try:
            at = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise InvalidValueError(
                "as_at",
                f"{text!r} is neither a date (2024-12-31) nor an ISO 8601 timestamp with "
                "its offset (2025-01-15T12:00:00+01:00 or …Z)",
            ) from None
        if at.tzinfo is None:
            raise InvalidValueError(
                "as_at",
                f"{text!r} has no offset: add one (Z for UTC, +01:00 for Paris in winter), "
                "or give a date alone for the end of that day in Europe/Paris",
            )
    current = now or datetime.now(UTC)
    if at > current:
        raise InvalidValueError(
            "as_at",
            f"{at.isoformat()} has not come yet (it is {current.astimezone(UTC).isoformat()}): "
            "the ledger cannot say what it will have recorded",
        )
    return at.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Cut:
    """Where the log stands as at an instant: the events recorded up to it.

    `position` is the last one's log position (0 if none), `tree_size` their number (the
    leaves of the audit Merkle tree they make). `final` says an event recorded after `at`
    already follows them in the log, so no write can change the answer any more; without
    it, a write in flight stamped before `at` may still be appended.
    """

    at: datetime
    position: int
    tree_size: int
    final: bool

    @property
    def at_paris(self) -> datetime:
        """The instant in Europe/Paris time."""
        return self.at.astimezone(PARIS)


@dataclass(frozen=True, slots=True)
class AsAtTotals:
    """Totals of the events recorded up to an instant, and the cut of the log they cover."""

    cut: Cut
    totals: Totals


def recorded_by(rows: Sequence[Row], changes: Sequence[Change], at: datetime, mapper: Any) -> int:
    """Return how many of a page's first rows were all recorded at or before `at`.

    The read models' events are decoded already (`changes`); the log's other events
    (tokens, index records) are decoded here for their recording time alone.
    """
    decoded = {change.position: change for change in changes}
    for index, row in enumerate(rows):
        change = decoded.get(row[0])
        state = change.data if change is not None else _state(row, mapper)
        stamp = state.get("timestamp")
        try:
            recorded = datetime.fromisoformat(stamp["_data_"])  # type: ignore[index]
        except (TypeError, KeyError, ValueError) as error:
            raise CorruptEventError(
                row[0], row[2], row[3], f"no recording time: {type(error).__name__}"
            ) from error
        if recorded > at:
            return index
    return len(rows)


def _state(row: Row, mapper: Any) -> dict[str, Any]:
    position, _, originator_id, version, state = row
    try:
        if mapper is not None and mapper.cipher is not None:
            state = mapper.cipher.decrypt(state)
        if mapper is not None and mapper.compressor is not None:
            state = mapper.compressor.decompress(state)
        data: dict[str, Any] = orjson.loads(state)
    except Exception as error:  # damaged bytes: name the event, whatever the cause
        raise CorruptEventError(
            position, originator_id, version, f"{type(error).__name__}: {error}"
        ) from error
    return data


def replay_totals(
    ledger: Ledger,
    db: ReadModelDatabase,
    at: datetime,
    *,
    page_size: int = ASAT_PAGE_SIZE,
    progress: Progress | None = None,
) -> Cut:
    """Feed a new generation of `totals` in `db` with the events recorded up to `at`.

    The generation is made live in `db` (a scratch database), holding its facts alone: the
    totals queries then read them. Returns the cut of the log it covers. On PostgreSQL the
    next page is read and decoded in a thread while the last one is applied.
    """
    generation = create_generation(db, TOTALS, bulk=True)
    unlogged(db, TOTALS, generation)
    pages = _recorded_pages(ledger, at, page_size)
    if db.dialect is Dialect.POSTGRES:
        pages = read_ahead(pages)
    position = tree_size = 0
    final = False
    for page in pages:
        if page.kept:
            position = page.position
            tree_size += page.kept
            apply_changes(db, TOTALS, generation, page.changes, position)
        if progress is not None:
            progress(tree_size, position)
        final = page.cut
    _facts_only(db, generation)
    return Cut(at, position, tree_size, final)


@dataclass(frozen=True, slots=True)
class _Page:
    """A page of the log's events recorded up to an instant, ready to apply."""

    changes: list[Change]
    position: int  # of its last event kept
    kept: int  # how many of its events were recorded up to the instant
    cut: bool  # whether an event recorded after the instant ends it


def _recorded_pages(ledger: Ledger, at: datetime, page_size: int) -> Iterator[_Page]:
    """The log in pages, up to its first event recorded after `at`."""
    start = 1
    while True:
        rows = select_rows(ledger.recorder, start, page_size)
        if not rows:
            return
        changes = decode_rows(rows, ledger.mapper)
        kept = recorded_by(rows, changes, at, ledger.mapper)
        position = rows[kept - 1][0] if kept else 0
        if kept < len(rows):
            yield _Page([c for c in changes if c.position <= position], position, kept, True)
            return
        yield _Page(changes, position, kept, False)
        if len(rows) < page_size:
            return
        start = rows[-1][0] + 1


def _facts_only(db: ReadModelDatabase, generation: int) -> None:
    """Make a bulk-fed generation live with its facts alone (no cubes to sum: no reader
    but one question needs them)."""
    with db.transaction() as cur:
        db.lock(cur)
        for table in (*CUBES, "totals_projects"):
            cur.execute(f"DROP TABLE IF EXISTS {db.table(generation_table(table, generation))}")
        cur.execute(
            f"UPDATE {db.table('tracking')} SET bulk = 0 "  # noqa: S608
            "WHERE read_model = ? AND generation = ?",
            (TOTALS, generation),
        )
        cur.execute(
            f"UPDATE {db.table('generations')} SET live = ? WHERE read_model = ?",  # noqa: S608
            (generation, TOTALS),
        )


@dataclass(frozen=True, slots=True)
class Question:
    """A totals question: groups, filters, effective dates, row limit."""

    group_by: tuple[str, ...] = ()
    filters: tuple[tuple[str, str], ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    max_rows: int | None = None

    @classmethod
    def of(
        cls,
        group_by: Sequence[str] = (),
        filters: Mapping[str, str] | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        max_rows: int | None = None,
    ) -> Question:
        """A question, checked as `/v1/totals` checks it (InvalidValueError otherwise)."""
        check_question(group_by, filters, date_from, date_to)
        return cls(
            tuple(group_by), tuple(sorted((filters or {}).items())), date_from, date_to, max_rows
        )


def totals_as_at(
    ledger: Ledger,
    database_url: str,
    at: datetime,
    question: Question,
    *,
    page_size: int = ASAT_PAGE_SIZE,
    progress: Progress | None = None,
) -> AsAtTotals:
    """Replay the log up to `at` into a scratch database, answer the question, drop it."""
    with scratch_database(database_url) as scratch:
        cut = replay_totals(ledger, scratch.db, at, page_size=page_size, progress=progress)
        answer = totals(
            scratch.db,
            question.group_by,
            dict(question.filters),
            question.date_from,
            question.date_to,
            question.max_rows,
        )
    return AsAtTotals(cut, answer)


# Answers kept per process (a final answer never changes).
CACHED_ANSWERS = 64


class AsAtReports:
    """As-at reports of one process: a bounded number at a time, final answers remembered.

    A report replays the whole log up to its instant: `slots` of them run at once, and a
    report waits at most `wait` seconds for a slot (then AsAtBusyError). A final answer
    (see Cut) depends only on its instant and question: it is served again from memory.
    """

    def __init__(self, slots: int = 1, wait: float = 5.0) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._wait = wait
        self._answers: OrderedDict[tuple[datetime, Question], AsAtTotals] = OrderedDict()
        self._lock = threading.Lock()

    def totals(
        self,
        ledger: Ledger,
        database_url: str,
        at: datetime,
        question: Question,
        *,
        progress: Progress | None = None,
    ) -> AsAtTotals:
        """Return the totals as at `at` (from memory when a final answer is known)."""
        key = (at, question)
        with self._lock:
            known = self._answers.get(key)
            if known is not None:
                self._answers.move_to_end(key)
                return known
        if not self._slots.acquire(timeout=self._wait):
            raise AsAtBusyError(
                f"another as-at report has been running for over {self._wait:.0f} s"
            )
        try:
            answer = totals_as_at(ledger, database_url, at, question, progress=progress)
        finally:
            self._slots.release()
        if answer.cut.final:
            with self._lock:
                self._answers[key] = answer
                while len(self._answers) > CACHED_ANSWERS:
                    self._answers.popitem(last=False)
        return answer


def end_of_day(day: date) -> datetime:
    """The last microsecond of a day in Europe/Paris, in UTC."""
    return datetime.combine(day, LAST_MICROSECOND, tzinfo=PARIS).astimezone(UTC)
