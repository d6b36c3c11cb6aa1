"""Feeding the registered read models from the global notification log, a page at a time.

Each read model applies a page in one transaction of its own (its feed: see `registry.py`).

The tracking row of a read model's generation is the source of truth: a page's rows and
its new position are written in the same transaction, so each event is applied exactly
once and a projector resumes where the last commit left it, after any crash.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from typing import Any

from domain.application import Ledger
from projections.db import ReadModelDatabase
from projections.events import Change, recorded_at
from projections.generations import (
    UnknownGenerationError,
    add_missing_indexes,
    create_generation,
    ensure_live_generation,
    is_outdated,
    swap,
    tracked_position,
)
from projections.notification_log import (
    NotificationLike,
    Row,
    StateDecoder,
    decode,
    decode_rows,
    select_rows,
)
from projections.registry import READ_MODELS, registered
from projections.sql import Cursor, Dialect
from projections.state import UnappliableEventError

DEFAULT_PAGE_SIZE = 2000
# Pages read ahead of the slowest read model when they apply pages in parallel.
PAGES_AHEAD = 2

# Called within a page's transaction, just before its commit, with (cursor, read model,
# first and last log positions of the page): raises to roll the page back (a projector
# that no longer leads the read model: see `leadership.py`).
PageGuard = Callable[[Cursor, str, int, int], None]


class ConcurrentProjectionError(RuntimeError):
    """Another projector moved this generation's position first: the page was rolled back."""


def is_transient(error: BaseException) -> bool:
    """Whether an error is the database's (unreachable, busy, timed out): worth a retry.

    Any other error while applying a page is the page's: it would fail again.
    """
    import psycopg
    from eventsourcing.persistence import InterfaceError, OperationalError

    return isinstance(
        error,
        sqlite3.OperationalError
        | psycopg.OperationalError
        | psycopg.InterfaceError
        | OperationalError
        | InterfaceError
        | TimeoutError
        | ConnectionError,
    )


def position_of(db: ReadModelDatabase, read_model: str, generation: int | None = None) -> int:
    """Return a generation's tracked position (the live one by default; 0 before any)."""
    registered(read_model)
    with db.transaction(readonly=True) as cur:
        if generation is None:
            cur.execute(
                f"SELECT t.position FROM {db.table('generations')} g "  # noqa: S608
                f"JOIN {db.table('tracking')} t "
                "ON t.read_model = g.read_model AND t.generation = g.live WHERE g.read_model = ?",
                (read_model,),
            )
            row = cur.fetchone()
            return 0 if row is None else int(row[0])
        return tracked_position(db, cur, read_model, generation)


def apply_page(
    db: ReadModelDatabase,
    read_model: str,
    generation: int,
    notifications: Iterable[NotificationLike],
    mapper: StateDecoder | None = None,
) -> int:
    """Apply one page of the log to a generation in one transaction; return its new position.

    Notifications at or below the tracked position are skipped, so a page applied twice
    changes nothing the second time. `mapper` undoes the store's cipher and compression.
    """
    page = list(notifications)
    if not page:
        return position_of(db, read_model, generation)
    return apply_changes(db, read_model, generation, decode(page, mapper), page[-1].id)


def apply_changes(
    db: ReadModelDatabase,
    read_model: str,
    generation: int,
    changes: Sequence[Change],
    last_position: int,
    guard: PageGuard | None = None,
) -> int:
    """Apply decoded changes up to `last_position` (the page's last notification id).

    The page is applied in bulk if its generation is still fed in bulk (see `settle`).
    A page that cannot be applied is rolled back and raises UnappliableEventError, naming
    the event (or, failing that, the page's first) and the reason; a database outage
    raises as it is (see `is_transient`). A `guard` runs last, before the commit.
    """
    apply = registered(read_model).apply
    # Not durable: a page lost in a crash is applied again from the log.
    with db.transaction(durable=False) as cur:
        position = tracked_position(db, cur, read_model, generation)
        if last_position <= position:
            return position
        todo = [change for change in changes if change.position > position]
        # Claim the page first: a second projector racing on this generation finds no row
        # at the position it read, and rolls back everything it did. The claim holds the
        # row, so the way the generation is fed (bulk or not) cannot change before commit.
        cur.execute(
            f"UPDATE {db.table('tracking')} SET position = ?, "  # noqa: S608
            "event_at = COALESCE(?, event_at), updated_at = CURRENT_TIMESTAMP "
            "WHERE read_model = ? AND generation = ? AND position = ? RETURNING bulk",
            (
                last_position,
                recorded_at(todo[-1]) if todo else None,
                read_model,
                generation,
                position,
            ),
        )
        claimed = cur.fetchone()
        if claimed is None:
            raise ConcurrentProjectionError(
                f"{read_model} generation {generation} moved past {position} meanwhile"
            )
        try:
            apply(db, cur, generation, todo, bool(claimed[0]))
        except UnappliableEventError as error:
            error.read_model = read_model
            raise
        except Exception as error:
            if is_transient(error) or not todo:
                raise
            first = todo[0].position
            raise UnappliableEventError(
                first,
                f"writing the events at positions {first} to {todo[-1].position} failed: "
                f"{type(error).__name__}: {error}",
                read_model,
            ) from error
        if guard is not None:
            guard(cur, read_model, position + 1, last_position)
        db.notify_moved(cur)
    return last_position


def catch_up(
    ledger: Ledger,
    db: ReadModelDatabase,
    read_model: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    generation: int | None = None,
    *,
    stop: int | None = None,
    generations: Mapping[str, int] | None = None,
    parallel: bool = False,
    guard: PageGuard | None = None,
) -> int:
    """Apply pages of the global log until its head (or `stop`); return the position reached.

    Without `read_model`, every read model follows (each page is read and decoded once).
    Without `generation`, the live one (created empty on first use); a swap meanwhile is
    followed to the new live generation. `generations` names one generation per read model
    instead (a rebuild of several read models in one pass).

    In `parallel` (PostgreSQL, named generations), each read model applies the pages in a
    thread of its own while the next pages are read and decoded: the database works while
    Python does. Each page runs `guard` before its commit.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    if generation is not None and read_model is None:
        raise ValueError("a generation belongs to one read model: name it")
    if generations is not None:
        if read_model is not None or generation is not None:
            raise ValueError("name either a read model or a generation per read model")
        if not generations:
            raise ValueError("no generation to catch up")
        targets = {registered(name).name: gen for name, gen in generations.items()}
    else:
        names = READ_MODELS if read_model is None else (registered(read_model).name,)
        targets = {
            name: generation if generation is not None else ensure_live_generation(db, name)
            for name in names
        }
    follow_live = generation is None and generations is None
    if follow_live:
        for name, live in targets.items():
            if is_outdated(db, name, live):
                # Built by an older layout: build the current one beside it, then swap.
                rebuilt = create_generation(db, name, bulk=True)
                catch_up(ledger, db, name, page_size, rebuilt, stop=stop, guard=guard)
                swap(db, name, rebuilt)
                targets[name] = rebuilt
            else:
                add_missing_indexes(db, name, live)
    positions = {name: position_of(db, name, gen) for name, gen in targets.items()}
    if parallel and not follow_live and db.dialect is Dialect.POSTGRES:
        return _catch_up_in_parallel(ledger, db, targets, positions, page_size, stop, guard)
    while True:
        start = min(positions.values()) + 1
        if stop is not None and start > stop:
            break
        rows, changes = _read_page(ledger, start, page_size, stop)
        if not rows:
            break
        last = rows[-1][0]
        for name, gen in targets.items():
            if positions[name] >= last:
                continue
            try:
                positions[name] = apply_changes(db, name, gen, changes, last, guard)
            except ConcurrentProjectionError:
                positions[name] = position_of(db, name, gen)
            except UnknownGenerationError:
                if not follow_live:
                    raise
                # A swap replaced the live generation: follow the new one from its position.
                targets[name] = ensure_live_generation(db, name)
                positions[name] = position_of(db, name, targets[name])
        if len(rows) < page_size:
            break
    return min(positions.values())


def _catch_up_in_parallel(
    ledger: Ledger,
    db: ReadModelDatabase,
    targets: Mapping[str, int],
    positions: Mapping[str, int],
    page_size: int,
    stop: int | None,
    guard: PageGuard | None,
) -> int:
    """Catch named generations up, each read model applying the pages in a thread of its own.

    A thread reads and decodes the pages, at most PAGES_AHEAD ahead of the slowest read
    model; each read model applies them as fast as it can, so that the database works on
    one page while Python works on another. The first error stops every thread.
    """
    failed = threading.Event()
    errors: list[BaseException] = []
    queues: dict[str, queue.Queue[tuple[Sequence[Change], int] | None]] = {
        name: queue.Queue(PAGES_AHEAD) for name in targets
    }

    def put(pages: queue.Queue[tuple[Sequence[Change], int] | None], page: Any) -> None:
        while not failed.is_set():
            with suppress(queue.Full):
                pages.put(page, timeout=0.1)
                return

    def read() -> None:
        start = min(positions.values()) + 1
        try:
            while stop is None or start <= stop:
                rows, changes = _read_page(ledger, start, page_size, stop)
                if not rows:
                    break
                last = rows[-1][0]
                for name, pages in queues.items():
                    if positions[name] < last:
                        put(pages, (changes, last))
                if len(rows) < page_size:
                    break
                start = last + 1
        except BaseException as error:
            errors.append(error)
            failed.set()
        finally:
            for pages in queues.values():
                put(pages, None)

    def apply(name: str) -> None:
        pages = queues[name]
        try:
            while not failed.is_set():
                try:
                    page = pages.get(timeout=0.1)
                except queue.Empty:
                    continue
                if page is None:
                    return
                changes, last = page
                # Another projector ahead on this generation: its pages are skipped.
                with suppress(ConcurrentProjectionError):
                    apply_changes(db, name, targets[name], changes, last, guard)
        except BaseException as error:
            errors.append(error)
            failed.set()

    threads = [threading.Thread(target=read, name="catch-up-read")] + [
        threading.Thread(target=apply, args=(name,), name=f"catch-up-{name}") for name in targets
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return min(position_of(db, name, generation) for name, generation in targets.items())


Page = tuple[list[Row], list[Change]]


def _read_page(ledger: Ledger, start: int, limit: int, stop: int | None) -> Page:
    rows = select_rows(ledger.recorder, start, limit, stop)
    return rows, decode_rows(rows, ledger.mapper)
