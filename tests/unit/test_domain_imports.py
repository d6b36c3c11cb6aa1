"""The domain stands alone: it loads without the API, and ruff refuses I/O imports in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def test_the_former_token_topics_resolve_without_the_api() -> None:
    script = (
        "import sys\n"
        "from eventsourcing.utils import resolve_topic\n"
        "from domain.tokens import AccessToken\n"
        "assert resolve_topic('api.tokens:AccessToken') is AccessToken\n"
        "assert resolve_topic('api.tokens:AccessToken.TokenIssued') is AccessToken.TokenIssued\n"
        "assert resolve_topic('api.tokens:AccessToken.TokenRevoked') is AccessToken.TokenRevoked\n"
        "assert not [m for m in sys.modules if m == 'api' or m.startswith('api.')]\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def _ruff_tid(path: str, source: str) -> str:
    """Ruff's import rules on `source` as if it were the file at `path`."""
    done = subprocess.run(  # noqa: S603 - the project's own ruff
        [sys.executable, "-m", "ruff", "check", "--select", "TID", "--stdin-filename", path, "-"],
        cwd=ROOT,
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


@pytest.mark.parametrize(
    "source",
    [
        "import threading\n",
        "from threading import Lock\n",
        "import sqlite3\n",
        "import psycopg\n",
        "from psycopg.sql import SQL\n",
        "from psycopg_pool import ConnectionPool\n",
        "import eventsourcing.postgres\n",
        "from eventsourcing.sqlite import SQLiteFactory\n",
        "from eventsourcing import popo\n",
        "from eventstore.group_commit import GroupCommit\n",
        "def f() -> None:\n    from eventsourcing.postgres import PostgresFactory\n",
    ],
)
def test_ruff_refuses_io_imports_in_the_domain(source: str) -> None:
    assert "TID251" in _ruff_tid("domain/probe.py", source)
    # The rule is the domain's own: the store adapter imports the same freely.
    assert "TID251" not in _ruff_tid("eventstore/probe.py", source)


def test_ruff_lets_the_domain_use_the_librarys_model_and_persistence_apis() -> None:
    source = (
        "from eventsourcing.application import Application\n"
        "from eventsourcing.domain import Aggregate\n"
        "from eventsourcing.persistence import Transcoding\n"
    )
    assert "TID251" not in _ruff_tid("domain/probe.py", source)
