"""Feeding the read models from the global notification log, one transaction per page.

The tracking row of a read model's generation is the source of truth: a page's rows and
its new position are written in the same transaction, so each event is applied exactly
once and a projector resumes where the last commit left it, after any crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from domain.application import Ledger
from projections.db import Cursor, ReadModelDatabase
from projections.events import Change, NotificationLike, StateDecoder, decode, recorded_at
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
    "swap",
]

DEFAULT_PAGE_SIZE = 2000

Applier = Callable[[ReadModelDatabase, Cursor, int, Sequence[Change]], None]
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
    """Apply decoded changes up to `last_position` (the page's last notification id)."""
    applier = APPLIERS[layout(read_model).name]
    with db.transaction() as cur:
        position = tracked_position(db, cur, read_model, generation)
        if last_position <= position:
            return position
        todo = [change for change in changes if change.position > position]
        # Claim the page first: a second projector racing on this generation finds no row
        # at the position it read, and rolls back everything it did.
        cur.execute(
            f"UPDATE {db.table('tracking')} SET position = ?, "  # noqa: S608
            "event_at = COALESCE(?, event_at), updated_at = CURRENT_TIMESTAMP "
            "WHERE read_model = ? AND generation = ? AND position = ?",
            (
                last_position,
                recorded_at(todo[-1]) if todo else None,
                read_model,
                generation,
                position,
            ),
        )
        if cur.rowcount != 1:
            raise ConcurrentProjectionError(
                f"{read_model} generation {generation} moved past {position} meanwhile"
            )
        applier(db, cur, generation, todo)
    return last_position


def catch_up(
    ledger: Ledger,
    db: ReadModelDatabase,
    read_model: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    generation: int | None = None,
    *,
    stop: int | None = None,
) -> int:
    """Apply pages of the global log until its head (or `stop`); return the position reached.

    Without `read_model`, every read model follows (each page is read and decoded once).
    Without `generation`, the live one (created empty on first use); a swap meanwhile is
    followed to the new live generation.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    if generation is not None and read_model is None:
        raise ValueError("a generation belongs to one read model: name it")
    names = READ_MODELS if read_model is None else (layout(read_model).name,)
    targets = {
        name: generation if generation is not None else ensure_live_generation(db, name)
        for name in names
    }
    if generation is None:
        for name, live in targets.items():
            if is_outdated(db, name, live):
                # Built by an older layout: build the current one beside it, then swap.
                rebuilt = create_generation(db, name)
                catch_up(ledger, db, name, page_size, rebuilt, stop=stop)
                swap(db, name, rebuilt)
                targets[name] = rebuilt
    positions = {name: position_of(db, name, gen) for name, gen in targets.items()}
    while True:
        start = min(positions.values()) + 1
        if stop is not None and start > stop:
            break
        page = ledger.recorder.select_notifications(start=start, limit=page_size, stop=stop)
        if not page:
            break
        changes = decode(page, ledger.mapper)
        last = page[-1].id
        for name, gen in targets.items():
            if positions[name] >= last:
                continue
            try:
                positions[name] = apply_changes(db, name, gen, changes, last)
            except ConcurrentProjectionError:
                positions[name] = position_of(db, name, gen)
            except UnknownGenerationError:
                if generation is not None:
                    raise
                # A swap replaced the live generation: follow the new one from its position.
                targets[name] = ensure_live_generation(db, name)
                positions[name] = position_of(db, name, targets[name])
        if len(page) < page_size:
            break
    return min(positions.values())
