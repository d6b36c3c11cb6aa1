"""Scratch read-model databases: generations built from the log apart from the live ones.

An as-at report and the replay check build read models of their own, in a database that
nothing else reads and that is dropped when they are done: on PostgreSQL a schema of its
own (`scratch_<random>`, beside `reporting`, with unlogged tables: nothing in it needs to
outlive a crash), on SQLite a file of its own in a temporary directory beside the store.
Two scratch databases never share a table, so any number of reports may run at once.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eventstore.settings import MEMORY_URL, SQLITE_PERSISTENCE, library_env, sqlite_path
from projections.db import ReadModelDatabase
from projections.layout import generation_table
from projections.registry import registered
from projections.sql import Dialect

SCRATCH_PREFIX = "scratch_"


@dataclass(frozen=True, slots=True)
class Scratch:
    """A scratch database, and on SQLite the file that holds it."""

    db: ReadModelDatabase
    sqlite_file: Path | None


@contextmanager
def scratch_database(database_url: str) -> Iterator[Scratch]:
    """Open an empty read-model database beside the store of `database_url`; drop it after."""
    if database_url == MEMORY_URL:
        db = ReadModelDatabase.from_url(MEMORY_URL)
        try:
            yield Scratch(db, None)
        finally:
            db.close()
        return
    if library_env(database_url)["PERSISTENCE_MODULE"] == SQLITE_PERSISTENCE:
        store = sqlite_path(database_url)
        if store is None:
            db = ReadModelDatabase.from_url(MEMORY_URL)
            try:
                yield Scratch(db, None)
            finally:
                db.close()
            return
        directory = Path(tempfile.mkdtemp(prefix="funding-scratch-", dir=store.parent))
        path = directory / "scratch.sqlite3"
        try:
            db = ReadModelDatabase(Dialect.SQLITE, sqlite_target=str(path))
            try:
                yield Scratch(db, path)
            finally:
                db.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    schema = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:16]}"
    db = ReadModelDatabase.from_url(database_url, reporting_schema=schema)
    try:
        yield Scratch(db, None)
    finally:
        try:
            with db.transaction() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            db.close()


def unlogged(db: ReadModelDatabase, read_model: str, generation: int) -> None:
    """PostgreSQL: write a scratch generation's tables without the write-ahead log."""
    if db.dialect is not Dialect.POSTGRES:
        return
    layout = registered(read_model).layout
    names = [generation_table(t, generation) for t in (*layout.tables, *layout.scratch)]
    with db.transaction() as cur:
        present = db.existing_tables(cur, names)
        for name in names:
            if name in present:
                cur.execute(f"ALTER TABLE {db.table(name)} SET UNLOGGED")
