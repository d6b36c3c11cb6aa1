"""Feeding the read models from the global notification log, one transaction per page.

The tracking row of a read model's generation is the source of truth: a page's rows and
its new position are written in the same transaction, so each event is applied exactly
once and a projector resumes where the last commit left it, after any crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from domain.application import Ledger
from projections.db import Cursor, Dialect, ReadModelDatabase
from projections.events import (
    Change,
    NotificationLike,
    Row,
    StateDecoder,
    decode,
    decode_rows,
    recorded_at,
    select_rows,
)
from projections.projects import apply_projects
from projections.schema import (
    PROJECTS,
    READ_MODELS,
    TOTALS,
    UnknownGenerationError,
    create_generation,
    drop_generation,
    ensure_live_generation,
    generations,
    is_outdated,
    layout,
    live_generation,
    settle,
    swap,
    tracked_position,
)
from projections.totals import apply_totals

__all__ = [
    "READ_MODELS",
    "ConcurrentProjectionError",
    "apply_changes",
    "apply_page",
    "catch_up",
    "create_generation",
    "drop_generation",
    "ensure_live_generation",
    "generations",
    "live_generation",
    "position_of",
    "settle",
    "swap",
]

DEFAULT_PAGE_SIZE = 2000

# (database, cursor, generation, changes, bulk): applies a page within its transaction.
Applier = Callable[[ReadModelDatabase, Cursor, int, Sequence[Change], bool], None]
APPLIERS: dict[str, Applier] = {TOTALS: apply_totals, PROJECTS: apply_projects}


class ConcurrentProjectionError(RuntimeError):
    """Another projector moved this generation's position first: the page was rolled back."""


def position_of(db: ReadModelDatabase, read_model: str, generation: int | None = None) -> int:
    """Return a generation's tracked position (the live one by default; 0 before any)."""
    layout(read_model)
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
) -> int:
    """Apply decoded changes up to `last_position` (the page's last notification id).

    The page is applied in bulk if its generation is still fed in bulk (see `settle`).
    """
    applier = APPLIERS[layout(read_model).name]
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
        applier(db, cur, generation, todo, bool(claimed[0]))
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
) -> int:
    """Apply pages of the global log until its head (or `stop`); return the position reached.

    Without `read_model`, every read model follows (each page is read and decoded once).
    Without `generation`, the live one (created empty on first use); a swap meanwhile is
    followed to the new live generation. `generations` names one generation per read model
    instead (a rebuild of several read models in one pass).

    In `parallel` (PostgreSQL), the read models apply each page in threads of their own
    while the next page is read and decoded: the database works while Python does.
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
        targets = {layout(name).name: gen for name, gen in generations.items()}
    else:
        names = READ_MODELS if read_model is None else (layout(read_model).name,)
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
                catch_up(ledger, db, name, page_size, rebuilt, stop=stop)
                swap(db, name, rebuilt)
                targets[name] = rebuilt
    positions = {name: position_of(db, name, gen) for name, gen in targets.items()}
    workers = (
        ThreadPoolExecutor(len(targets) + 1, thread_name_prefix="catch-up")
        if parallel and db.dialect is Dialect.POSTGRES
        else None
    )
    # The next page, read and decoded while the current one is applied (in parallel).
    ahead: tuple[int, Future[Page]] | None = None
    try:
        while True:
            start = min(positions.values()) + 1
            if stop is not None and start > stop:
                break
            if ahead is not None and ahead[0] == start:
                rows, changes = ahead[1].result()
            else:
                rows, changes = _read_page(ledger, start, page_size, stop)
            ahead = None
            if not rows:
                break
            last = rows[-1][0]
            full = len(rows) == page_size
            if workers is not None and full and (stop is None or last < stop):
                ahead = (last + 1, workers.submit(_read_page, ledger, last + 1, page_size, stop))
            due = [name for name in targets if positions[name] < last]
            if workers is None or len(due) < 2:
                outcomes = [_outcome(apply_changes, db, n, targets[n], changes, last) for n in due]
            else:
                futures = [
                    workers.submit(_outcome, apply_changes, db, n, targets[n], changes, last)
                    for n in due
                ]
                outcomes = [future.result() for future in futures]
            for name, outcome in zip(due, outcomes, strict=True):
                if isinstance(outcome, int):
                    positions[name] = outcome
                elif isinstance(outcome, ConcurrentProjectionError):
                    positions[name] = position_of(db, name, targets[name])
                elif isinstance(outcome, UnknownGenerationError) and follow_live:
                    # A swap replaced the live generation: follow the new one from its position.
                    targets[name] = ensure_live_generation(db, name)
                    positions[name] = position_of(db, name, targets[name])
                else:
                    raise outcome
            if not full:
                break
    finally:
        if workers is not None:
            workers.shutdown(wait=True, cancel_futures=True)
    return min(positions.values())


Page = tuple[list[Row], list[Change]]


def _read_page(ledger: Ledger, start: int, limit: int, stop: int | None) -> Page:
    rows = select_rows(ledger.recorder, start, limit, stop)
    return rows, decode_rows(rows, ledger.mapper)


def _outcome(
    apply: Callable[[ReadModelDatabase, str, int, Sequence[Change], int], int],
    db: ReadModelDatabase,
    read_model: str,
    generation: int,
    changes: Sequence[Change],
    last_position: int,
) -> int | Exception:
    """Apply a page to one read model; return its new position, or what went wrong."""
    try:
        return apply(db, read_model, generation, changes, last_position)
    except Exception as error:  # raised or handled by the caller, in its thread
        return error
