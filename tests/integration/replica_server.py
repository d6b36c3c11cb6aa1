"""A throwaway streaming replica of the test PostgreSQL, for tests and benchmarks.

`StreamingReplica.create(primary_url)` takes a base backup of the primary with
`pg_basebackup -R` (which writes `standby.signal` and `primary_conninfo`) into a new
temporary directory, gives it a configuration of its own (another port on 127.0.0.1, its
socket in that directory) and starts it with `pg_ctl`; `remove()` stops it and deletes the
directory. PostgreSQL refuses to run as root: as root, the commands run as the `postgres`
OS user (runuser), which owns the directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

SERVER_USER = "postgres"
START_SECONDS = 120
HINT = (
    "a streaming replica needs the test PostgreSQL to accept replication connections from "
    "127.0.0.1: a `host replication all 127.0.0.1/32 trust` line in its pg_hba.conf (then "
    "SELECT pg_reload_conf()), wal_level replica or logical and max_wal_senders > 0 (the "
    "defaults); .ci/run sets this up"
)
# Settings a hot standby refuses to run with below the primary's values.
AT_LEAST_PRIMARY = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


class ReplicaUnavailableError(RuntimeError):
    """The replica could not be made or started (the message says why and what to fix)."""


@dataclass
class StreamingReplica:
    """A hot standby of the primary, streaming from it, on its own port of 127.0.0.1."""

    primary_url: str
    port: int
    directory: Path
    bindir: Path

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    def url_for(self, url: str) -> str:
        """The same database (and query, e.g. `?schema=`) as a primary URL, on the replica."""
        return on_port(url, self.port)

    @property
    def url(self) -> str:
        return self.url_for(self.primary_url)

    @classmethod
    def create(cls, primary_url: str) -> StreamingReplica:
        """Back the primary up into a new directory and start it as a streaming replica."""
        try:
            with psycopg.connect(primary_url, autocommit=True, connect_timeout=3) as conn:
                version = int(_one(conn, "SHOW server_version_num")) // 10_000
                floors = {name: _one(conn, f"SHOW {name}") for name in AT_LEAST_PRIMARY}
        except psycopg.Error as error:
            raise ReplicaUnavailableError(f"the primary does not answer: {error}") from error
        directory = Path(tempfile.mkdtemp(prefix="funding-replica-"))
        replica = cls(primary_url, free_port(), directory, _bindir(version))
        try:
            replica._back_up(floors)
            replica.start()
        except BaseException:
            replica.remove()
            raise
        return replica

    def _back_up(self, floors: dict[str, str]) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, SERVER_USER, SERVER_USER)
        primary = urlsplit(self.primary_url)
        self._run(
            "pg_basebackup",
            ["-h", primary.hostname or "127.0.0.1", "-p", str(primary.port or 5432)],
            ["-U", primary.username or SERVER_USER, "-D", str(self.data)],
            # -R: standby.signal and primary_conninfo; a fast checkpoint; WAL streamed too.
            ["-R", "-X", "stream", "-c", "fast", "--no-sync"],
            what="pg_basebackup",
        )
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "shared_buffers": "'32MB'",
            "fsync": "off",
            "wal_receiver_status_interval": "'1s'",
            **floors,
        }
        self._write("postgresql.conf", "".join(f"{k} = {v}\n" for k, v in settings.items()))
        self._write("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n")
        self._write("pg_ident.conf", "")

    def start(self) -> None:
        """Start the server and wait until it accepts (read-only) connections."""
        self._run(
            "pg_ctl",
            ["-D", str(self.data), "-l", str(self.log_file)],
            ["-w", "-t", str(START_SECONDS), "start"],
            what="starting the replica",
        )

    def stop(self) -> None:
        """Stop the server (its clients' connections end at once)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", ["-D", str(self.data), "-m", "fast", "-w", "stop"], what="stop")

    def pause(self) -> None:
        """Stop replaying WAL (received WAL waits) until `resume`."""
        self.execute("SELECT pg_wal_replay_pause()")

    def resume(self) -> None:
        """Replay WAL again."""
        self.execute("SELECT pg_wal_replay_resume()")

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.encode())

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _write(self, name: str, text: str) -> None:
        path = self.data / name
        path.write_text(text)
        if os.geteuid() == 0:
            shutil.chown(path, SERVER_USER, SERVER_USER)

    def _run(self, program: str, *args: list[str], what: str) -> None:
        command = [str(self.bindir / program), *(a for group in args for a in group)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(  # noqa: S603 - our own argument list, no shell
            command, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise ReplicaUnavailableError(
                f"{what} failed ({done.returncode}): {done.stderr.strip()} {log}\n({HINT})"
            )


def _one(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> str:
    row = conn.execute(sql.encode()).fetchone()
    return str(row[0]) if row else ""


def on_port(url: str, port: int) -> str:
    """A PostgreSQL URL's database, user and query, on another port of 127.0.0.1."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on (as the system hands them out)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _bindir(major: int) -> Path:
    """The server programs of the primary's major version (Debian keeps each version apart)."""
    debian = Path(f"/usr/lib/postgresql/{major}/bin")
    if (debian / "pg_ctl").exists():
        return debian
    found = shutil.which("pg_ctl")
    if found is None:
        raise ReplicaUnavailableError(f"pg_ctl (PostgreSQL {major}) is not installed")
    return Path(found).parent
