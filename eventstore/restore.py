"""Events put back at the positions they had: loading an export into an empty store.

A restored store must have the same log as the exported one: the same positions (gaps
included: a rolled-back PostgreSQL transaction consumes positions), so the same leaves and
the same root hash. The library numbers events itself; here they are inserted with their
positions given (SQLite: the rowid; PostgreSQL: notification_id, then its sequence moved
past them), and their Merkle leaves added by the store's own tree code (`append` on
SQLite, `add_leaves_after` on PostgreSQL, as after the recorder's COPY) in the same
transaction. Everything is one transaction: a restore stopped by a bad page, or by the
caller's check after the last one, leaves the store empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier

# One page of events to restore: (position, stored event), positions increasing.
Page = Sequence[tuple[int, StoredEvent]]


class StoreNotEmptyError(RuntimeError):
    """A restore goes into an empty store only."""


def restore(recorder: Any, pages: Iterable[Page]) -> int:
    """Insert the pages' events at their positions with their leaves, in one transaction.

    `pages` may raise (a line that fails its check): nothing is then stored. Returns how
    many events were restored; StoreNotEmptyError if the store holds any event.
    """
    inner = getattr(recorder, "recorder", recorder)  # group commit wraps the recorder
    tree = getattr(inner, "tree", None)
    if tree is None or not hasattr(inner, "datastore"):
        raise TypeError(f"{type(inner).__name__}: a restore needs a SQLite or PostgreSQL store")
    if hasattr(inner.datastore, "pool") and hasattr(inner, "lock_table_statements"):
        return _restore_postgres(inner, tree, pages)
    return _restore_sqlite(inner, tree, pages)


def _restore_sqlite(recorder: Any, tree: Any, pages: Iterable[Page]) -> int:
    table = recorder.events_table_name
    count = 0
    # The write transaction holds SQLite's write lock until the commit.
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608
        if c.fetchone()[0]:
            raise StoreNotEmptyError("the store already holds events: restore into an empty one")
        for page in pages:
            c.executemany(
                f"INSERT INTO {table} "  # noqa: S608
                "(rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
                [
                    (p, _uuid(e.originator_id).hex, e.originator_version, e.topic, e.state)
                    for p, e in page
                ],
            )
            tree.append(c, [p for p, _ in page], [e for _, e in page])
            count += len(page)
    return count


def _restore_postgres(recorder: Any, tree: Any, pages: Iterable[Page]) -> int:
    schema = recorder.datastore.schema or "public"
    table = SQL("{0}.{1}").format(Identifier(schema), Identifier(recorder.events_table_name))
    copy_statement = SQL(
        "COPY {0} (notification_id, originator_id, originator_version, topic, state) "
        "FROM STDIN (FORMAT BINARY)"
    ).format(table)
    count, last = 0, 0
    with _connection(recorder.datastore) as conn, conn.transaction(), conn.cursor() as curs:
        # The writers' lock: nobody records an event while the log is put back.
        for statement in recorder.lock_table_statements:
            curs.execute(statement)
        # The tables fill within this one transaction, unseen by the planner's statistics:
        # it takes a third of each table for "after this position" and, past ~50,000 events,
        # JIT-compiles every page's hashing statement (seconds each, instead of 0.1 s).
        curs.execute("SET LOCAL jit = off")
        curs.execute(SQL("SELECT EXISTS (SELECT 1 FROM {0}) AS found").format(table))
        if curs.fetchone()["found"]:
            raise StoreNotEmptyError("the store already holds events: restore into an empty one")
        for page in pages:
            with curs.copy(copy_statement) as copy:
                copy.set_types(["int8", "uuid", "int8", "text", "bytea"])
                for position, e in page:
                    copy.write_row(
                        (position, _uuid(e.originator_id), e.originator_version, e.topic, e.state)
                    )
            # The store's own hashing of the events this transaction wrote after `last`.
            tree.add_leaves_after(curs, last)
            count += len(page)
            last = page[-1][0] if page else last
        if last:
            # The next event recorded takes the position after the last one restored.
            curs.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                (f'"{schema}"."{recorder.events_table_name}"', last),
            )
    return count


@contextmanager
def _connection(datastore: Any) -> Iterator[Any]:
    # A restore is long work: not bounded by the deadline of a request's statements.
    get = getattr(datastore, "_funding_unguarded", datastore.get_connection)
    with get() as conn:
        yield conn


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
