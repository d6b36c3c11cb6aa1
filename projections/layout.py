"""A read model's tables by generation: how they are named, created, settled and shown.

Each read model's tables carry a generation suffix (`facts_g3`). A rebuild creates a new
generation beside the live one; its swap recreates the plain-named views (`facts`,
`projects`…) over it (see `generations.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from projections.db import ReadModelDatabase
from projections.sql import Dialect


@dataclass(frozen=True, slots=True)
class ReadModelLayout:
    """A read model's tables (created per generation) and the views BI tools read."""

    tables: tuple[str, ...]
    views: tuple[str, ...]
    # The tables of a generation, as fed page by page or (bulk) as `settle` completes them.
    ddl: Callable[[ReadModelDatabase, int, bool], list[str]]
    # Indexes no page needs: a generation fed in bulk gets them as it settles.
    deferred: Callable[[ReadModelDatabase, int], list[str]]
    # What settling a bulk generation runs: lists of statements, each list in a transaction
    # of its own (in parallel on PostgreSQL), each list safe to run again.
    settling: Callable[[ReadModelDatabase, int], list[list[str]]]
    # Tables only a generation fed in bulk has, dropped as it settles.
    scratch: tuple[str, ...] = ()
    # PostgreSQL: a table rewritten in the order of one of its indexes (table, indexed
    # column) before a rebuilt generation's swap.
    cluster: tuple[str, str] | None = None


def generation_table(name: str, generation: int) -> str:
    """Return the unqualified name of a table of a generation."""
    return f"{name}_g{generation}"


def index_statement(db: ReadModelDatabase, table: str, columns: Sequence[str]) -> str:
    """Return the statement creating an index of a table (unqualified name) if missing."""
    # PostgreSQL puts an index in its table's schema; SQLite needs the prefix on its name.
    name = f"{table}_{'_'.join(columns)}"
    if db.dialect is Dialect.SQLITE:
        name = db.table(name)
    return f"CREATE INDEX IF NOT EXISTS {name} ON {db.table(table)} ({', '.join(columns)})"
