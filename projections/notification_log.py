"""Reading the global notification log: pages of rows, decoded into the read models' changes.

The ledger stores each event's state as JSON, with the library's transcodings as
`{"_type_": name, "_data_": value}`: `decimal_str` ("1250.50"), `uuid_hex` (32 hex digits),
`date_iso` ("2024-03-01") and `datetime_iso`. Projections read those few fields directly
instead of rebuilding domain event objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import orjson

from domain.errors import CorruptEventError
from projections.events import Change, uuid_text
from projections.registry import KINDS


class NotificationLike(Protocol):
    """What a projection reads of a notification of the global log."""

    @property
    def id(self) -> int: ...

    @property
    def topic(self) -> str: ...

    @property
    def originator_id(self) -> object: ...

    @property
    def originator_version(self) -> int: ...

    @property
    def state(self) -> bytes: ...


class StateDecoder(Protocol):
    """The part of the library's mapper that undoes encryption and compression."""

    cipher: Any
    compressor: Any


# A notification as read from the log: (id, topic, originator id text, version, state).
Row = tuple[int, str, str, int, bytes]


def decode(
    notifications: Iterable[NotificationLike], mapper: StateDecoder | None = None
) -> list[Change]:
    """Return the changes of the events some read model reads; other events are skipped."""
    return decode_rows(
        (
            (n.id, n.topic, str(n.originator_id), n.originator_version, n.state)
            for n in notifications
        ),
        mapper,
    )


def decode_rows(rows: Iterable[Row], mapper: StateDecoder | None = None) -> list[Change]:
    """Like `decode`, for notifications read as plain rows (see `select_rows`)."""
    cipher = None if mapper is None else mapper.cipher
    compressor = None if mapper is None else mapper.compressor
    kinds = KINDS
    loads = orjson.loads
    changes: list[Change] = []
    append = changes.append
    for position, topic, originator_id, version, state in rows:
        kind = kinds.get(topic)
        if kind is None:
            continue
        try:
            if cipher is not None:
                state = cipher.decrypt(state)
            if compressor is not None:
                state = compressor.decompress(state)
            data = loads(state)
            commitment = data.get("commitment_id")
            commitment_id = None if commitment is None else uuid_text(commitment)
        except Exception as error:  # damaged bytes: name the event, whatever the cause
            raise CorruptEventError(position, originator_id, version, _reason(error)) from error
        append(Change(position, kind[0], kind[1], originator_id, version, data, commitment_id))
    return changes


def _reason(error: BaseException) -> str:
    """What failed to decode, without the damaged bytes themselves."""
    return f"{type(error).__name__}: {error}"


def select_rows(recorder: Any, start: int, limit: int, stop: int | None = None) -> list[Row]:
    """Read a page of the log as rows: ids from `start` (to `stop`), in order, at most `limit`.

    The library's `select_notifications` semantics; on PostgreSQL the rows are read in
    binary as plain tuples (three times faster than the library's dict rows and objects).
    """
    from eventsourcing.postgres import PostgresApplicationRecorder

    if isinstance(recorder, PostgresApplicationRecorder):
        return _select_postgres_rows(recorder, start, limit, stop)
    notifications: Sequence[NotificationLike] = recorder.select_notifications(
        start=start, limit=limit, stop=stop
    )
    return [
        (n.id, n.topic, str(n.originator_id), n.originator_version, n.state) for n in notifications
    ]


# The event table's planner statistics are refreshed before a full read when this share of
# its rows changed since they were last gathered (or when they never were).
STALE_STATISTICS = 0.1


def refresh_log_statistics(recorder: Any) -> bool:
    """PostgreSQL: gather the event table's planner statistics if they are stale; True if so.

    Without them (autovacuum off, or a bulk load it has not caught up with) the planner
    takes a page of the log for a few rows and reads every row after it, then sorts them:
    a second per page at a million events instead of milliseconds.
    """
    from eventsourcing.postgres import PostgresApplicationRecorder

    if not isinstance(recorder, PostgresApplicationRecorder):
        return False
    schema = recorder.datastore.schema or "public"
    table = f'"{schema}"."{recorder.events_table_name}"'
    with recorder.datastore.get_connection() as conn:
        found = conn.execute(
            "SELECT n_live_tup, n_mod_since_analyze, "
            "COALESCE(last_analyze, last_autoanalyze) IS NOT NULL AS analyzed "
            "FROM pg_stat_user_tables WHERE schemaname = %s AND relname = %s",
            (schema, recorder.events_table_name),
        ).fetchone()
        if found is not None and found["analyzed"]:
            changed = int(found["n_mod_since_analyze"])
            if changed <= STALE_STATISTICS * max(int(found["n_live_tup"]), 1):
                return False
        conn.execute(f"ANALYZE {table}")
    return True


def _select_postgres_rows(recorder: Any, start: int, limit: int, stop: int | None) -> list[Row]:
    from eventsourcing.persistence import InterfaceError, OperationalError
    from eventsourcing.utils import retry
    from psycopg.rows import tuple_row

    table = f'"{recorder.datastore.schema or "public"}"."{recorder.events_table_name}"'
    query = (
        "SELECT notification_id, topic, originator_id::text, originator_version, state "  # noqa: S608
        f"FROM {table} WHERE notification_id >= %s AND notification_id <= %s "
        "ORDER BY notification_id LIMIT %s"
    )
    # No upper bound: the largest BIGINT.
    params = (start, (1 << 63) - 1 if stop is None else stop, limit)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select() -> list[Row]:
        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cur,
        ):
            cur.execute(query, params, prepare=True)
            rows: list[Row] = cur.fetchall()
            return rows

    rows: list[Row] = select()
    return rows
