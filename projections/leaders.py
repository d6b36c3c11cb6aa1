"""Who leads each read model, as the database (or SQLite's lock file) knows it.

PostgreSQL: the leader is the latest term of a read model whose lock session holds the
read model's advisory lock now (`pg_locks`); followers are the other sessions campaigning
for it (`pg_stat_activity`, by their application_name). SQLite keeps one projector process
(see `SingleProjectorLock`): its leader is the process holding the store's lock file.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from projections.db import ReadModelDatabase
from projections.leadership import LEADER, TERMS, application_name, lock_ids, lock_key
from projections.registry import READ_MODELS
from projections.sql import Dialect


@dataclass(frozen=True, slots=True)
class Leader:
    """The process leading a read model: its id, host, and since when (its term on PostgreSQL)."""

    pid: int
    host: str
    since: datetime
    term: int | None = None

    def is_this_process(self) -> bool:
        """Whether the leader is this process or the one that started it (`serve --workers`)."""
        return self.host == socket.gethostname() and self.pid in (os.getpid(), os.getppid())


@dataclass(frozen=True, slots=True)
class ReadModelLeadership:
    """A read model's leader (None: no process leads it now) and how many wait to take over."""

    read_model: str
    leader: Leader | None
    followers: int | None


def leaders(
    db: ReadModelDatabase, read_models: tuple[str, ...] = READ_MODELS
) -> dict[str, ReadModelLeadership]:
    """Per read model, who leads it and how many processes wait to take over."""
    if db.dialect is Dialect.SQLITE:
        single = single_projector_holder(db)
        return {name: ReadModelLeadership(name, single, None) for name in read_models}
    keys = {name: lock_key(db.reporting_schema, name, LEADER) for name in read_models}
    with db.transaction(readonly=True) as cur:
        cur.execute(
            "SELECT classid::bigint, objid::bigint, pid FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        holders = {(int(c), int(o)): int(pid) for c, o, pid in cur.fetchall()}
        cur.execute(
            "SELECT application_name, COUNT(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = ANY(?) "
            "GROUP BY application_name",
            ([application_name(key) for key in keys.values()],),
        )
        sessions = {str(name): int(count) for name, count in cur.fetchall()}
        terms: dict[str, tuple[int, int, str, datetime, int]] = {}
        if db.existing_tables(cur, [TERMS]):
            cur.execute(
                "SELECT DISTINCT ON (read_model) read_model, term, pid, host, since, backend_pid "  # noqa: S608
                f"FROM {db.table(TERMS)} WHERE role = ? ORDER BY read_model, term DESC",
                (LEADER,),
            )
            terms = {
                str(name): (int(term), int(pid), str(host), since, int(backend))
                for name, term, pid, host, since, backend in cur.fetchall()
            }
    found = {}
    for name, key in keys.items():
        holder = holders.get(lock_ids(key))
        term = terms.get(name)
        leader = None
        if holder is not None and term is not None and term[4] == holder:
            leader = Leader(pid=term[1], host=term[2], since=term[3], term=term[0])
        campaigning = sessions.get(application_name(key), 0)
        found[name] = ReadModelLeadership(name, leader, max(campaigning - (holder is not None), 0))
    return found


# SQLite ------------------------------------------------------------------------------------


class ProjectorAlreadyRunningError(RuntimeError):
    """Another projector process already runs against this SQLite store."""


def lock_file(database_file: str) -> Path:
    """The file a SQLite store's projector process holds locked while it runs."""
    return Path(f"{database_file}.projector")


class SingleProjectorLock:
    """SQLite keeps one projector process: it holds this lock file while it runs.

    The embedded store cannot run several projector processes safely; a second one is
    refused, naming the first.
    """

    def __init__(self, database_file: str) -> None:
        self.path = lock_file(database_file)
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ProjectorAlreadyRunningError naming its holder.

        It is held until `release`, or until the process ends.
        """
        file = self.path.open("a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            holder = _read_holder(self.path)
            who = (
                f"process {holder.pid} on {holder.host}, since {holder.since.isoformat()}"
                if holder is not None
                else "another process"
            )
            raise ProjectorAlreadyRunningError(
                f"a projector ({who}) already runs against this SQLite store: the embedded "
                "store supports one projector process. Stop it first, or use PostgreSQL to "
                "run several projectors (one leads each read model, the others take over)."
            ) from None
        file.seek(0)
        file.truncate()
        since = datetime.now(UTC).isoformat()
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": since}, file)
        file.flush()
        self._file = file
        _HELD.add(self)

    def release(self) -> None:
        """Give the lock up."""
        _HELD.discard(self)
        if self._file is not None:
            self._file.close()
            self._file = None


# The locks this process holds (a lock file closed by the collector would be released).
_HELD: set[SingleProjectorLock] = set()


def single_projector_holder(db: ReadModelDatabase) -> Leader | None:
    """The projector process holding a SQLite store's lock file, if one runs."""
    database_file = db.sqlite_file
    if database_file is None:
        return None
    path = lock_file(database_file)
    try:
        file = path.open()
    except FileNotFoundError:
        return None
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(path)
        fcntl.flock(file, fcntl.LOCK_UN)
        return None


def _read_holder(path: Path) -> Leader | None:
    try:
        data = json.loads(path.read_text())
        return Leader(int(data["pid"]), str(data["host"]), datetime.fromisoformat(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
