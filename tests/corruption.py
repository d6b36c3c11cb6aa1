"""Damaging a stored event's bytes in place, as a disk or a hand-run UPDATE would."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import psycopg

from eventstore.settings import (
    POSTGRES_EVENTS_TABLE,
    SQLITE_EVENTS_TABLE,
    SQLITE_PERSISTENCE,
    library_env,
)


def damage_event(store_url: str, position: int, state: str = "garbage") -> None:
    """Overwrite the state of the event at a log position (SQLite or PostgreSQL)."""
    env = library_env(store_url)
    if env["PERSISTENCE_MODULE"] == SQLITE_PERSISTENCE:
        # As text, the way `UPDATE stored_events SET state = 'garbage'` leaves it.
        with closing(sqlite3.connect(env["SQLITE_DBNAME"])) as embedded, embedded:
            changed = embedded.execute(
                f"UPDATE {SQLITE_EVENTS_TABLE} SET state = ? WHERE rowid = ?",  # noqa: S608
                (state, position),
            ).rowcount
    else:
        table = f'"{env.get("POSTGRES_SCHEMA", "public")}".{POSTGRES_EVENTS_TABLE}'
        with psycopg.connect(store_url.partition("?")[0], autocommit=True) as conn:
            changed = conn.execute(
                f"UPDATE {table} SET state = %s WHERE notification_id = %s",  # noqa: S608
                (state.encode(), position),
            ).rowcount
    assert changed == 1, f"no event at position {position}"
