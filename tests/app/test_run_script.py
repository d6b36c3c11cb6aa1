"""`./scripts/run --port N` serves on N and says so (it used to print 8000 whatever the port)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_run_script_prints_the_port_it_serves_on(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "FUNDING_AUDIT_KEY_FILE": str(tmp_path / "audit.key"),
    }
    process = subprocess.Popen(  # noqa: S603 (the repository's own script)
        [str(ROOT / "scripts" / "run"), "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        said = ""
        lines = []
        # Read what it prints until the server says it is up (or it exits).
        for line in process.stdout:
            lines.append(line)
            if line.startswith("==> serving on"):
                said = line.strip()
            if "startup complete" in line.lower():
                break
        answered = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)

    assert said == f"==> serving on http://127.0.0.1:{port}", "".join(lines)
    assert answered == 200
