"""Browser fixtures: a real `funding serve` on the demo data, and Chromium pages offline.

- `live_server` (session): `funding serve` in a subprocess on a free port, its SQLite store
  in a temporary folder holding the demo data (as `scripts/run` loads it) and a tree-head
  signing key, its read models caught up with the log before any test runs. It is a
  `LiveServer`: `.url` (http://127.0.0.1:PORT), `.tokens` (role → token: `admin`,
  `directorate` (Hauts-de-France), `auditor`, `viewer`), `.headers(role)` for httpx, and
  `.store_url`. It is shared by every browser test: a test that writes leaves its writes
  for the tests after it.
- `browser_page`: a headless Playwright `Page` of Debian's Chromium (/usr/bin/chromium) with
  `base_url` set to the server (`page.goto("/docs")`). Every request to a host other than
  the server's is aborted, so a page that needs a network fails; any console error, page
  error or failed request fails the test when it ends. A test that provokes one on purpose
  (a 401 answer logs "Failed to load resource") says so first through `page_problems`:
  `page_problems.allow(r"status of 401")`.
- `screenshot`: a function; `screenshot(page, "docs")` saves what the page shows as
  docs/img/docs.png, the pictures the docs show (each browser test saves its page's).

Without Chromium (or the playwright package) the tests are skipped, saying why; with CI=true
or FUNDING_REQUIRE_BROWSER=1 they fail instead.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from api.audit_keys import generate_key
from api.tokens import create_token
from demo import load_demo
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route

CHROMIUM = Path("/usr/bin/chromium")
FUNDING = str(Path(sys.executable).with_name("funding"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
REQUIRE_BROWSER = os.environ.get("CI") == "true" or os.environ.get(
    "FUNDING_REQUIRE_BROWSER", ""
) in ("1", "true", "yes")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Longest wait for the server to answer and for its read models to reach the log's head.
START_TIMEOUT = 60.0


def require_browser() -> None:
    """Skip a browser test on a machine without Chromium; fail when CI demands it."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is missing (pip install -e '.[dev]')"
    if missing is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"browser tests are required here (CI or FUNDING_REQUIRE_BROWSER): {missing}")
    pytest.skip(f"no browser: {missing}")


@dataclass(frozen=True)
class LiveServer:
    """A running `funding serve` on the demo data, and a token of each role it accepts."""

    url: str
    tokens: dict[str, str]
    store_url: str

    def headers(self, role: str) -> dict[str, str]:
        """The Authorization header of that role's token."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _prepare_store(url: str) -> tuple[dict[str, str], int]:
    """Load the demo data and issue a token per role; return them and the log's head."""
    ledger = Ledger(env=library_env(url))
    try:
        tokens = {
            "admin": create_token(ledger, name="admin", role=Role.ADMIN)[0],
            "directorate": create_token(
                ledger, name="dr-hdf", role=Role.DIRECTORATE, directorate="hauts_de_france"
            )[0],
            "auditor": create_token(ledger, name="auditor", role=Role.AUDITOR)[0],
            "viewer": create_token(ledger, name="viewer", role=Role.VIEWER)[0],
        }
        load_demo(ledger)
        return tokens, ledger.head_position()
    finally:
        ledger.close()


def _wait_until_caught_up(
    server: LiveServer, head: int, process: subprocess.Popen[bytes], log: Path
) -> None:
    """Poll until the server answers and its read models have reached `head`.

    Each read names `min_position`: the server itself waits (up to its read wait) for the
    projector, and answers 503 while it is still behind.
    """
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(base_url=server.url, timeout=10.0, headers=server.headers("admin")) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {log.read_text()[-3000:]}")
            try:
                ready = all(
                    http.get(path, params={"min_position": head}).status_code == 200
                    for path in ("/v1/totals", "/v1/projects")
                )
            except httpx.TransportError:
                ready = False  # not listening yet
            if ready:
                return
            with suppress(subprocess.TimeoutExpired):
                process.wait(0.1)  # returns at once if it exits
    raise RuntimeError(f"the server did not catch up to {head}: {log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`funding serve` on a SQLite store holding the demo data (see the module docstring)."""
    require_browser()
    folder = tmp_path_factory.mktemp("live")
    store_url = f"sqlite:///{folder / 'funding.sqlite3'}"
    tokens, head = _prepare_store(store_url)
    key_file = folder / "audit-signing-key.pem"
    generate_key(key_file)
    port = _free_port()
    log = folder / "server.log"
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": store_url,
        "FUNDING_AUDIT_KEY_FILE": str(key_file),
        "FUNDING_LOG_FORMAT": "json",
        "FUNDING_LOG_LEVEL": "WARNING",
        "FUNDING_POLL_INTERVAL": "0.1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [FUNDING, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=out,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", tokens=tokens, store_url=store_url)
    try:
        _wait_until_caught_up(server, head, process, log)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@dataclass
class PageProblems:
    """What went wrong in a page: console errors, uncaught errors, failed requests."""

    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Expect problems matching this regular expression (a 401 provoked on purpose)."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        """The problems seen that no allowed pattern matches."""
        return [p for p in self.seen if not any(a.search(p) for a in self.allowed)]


@pytest.fixture
def page_problems() -> PageProblems:
    """The problems `browser_page` saw; a test may allow some before provoking them."""
    return PageProblems()


def _console(problems: PageProblems, message: ConsoleMessage) -> None:
    if message.type == "error":
        problems.seen.append(f"console error: {message.text} ({message.location})")


def _failed(problems: PageProblems, request: Request) -> None:
    problems.seen.append(f"request failed: {request.method} {request.url}: {request.failure}")


def _local_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
        route.continue_()
    else:
        route.abort("internetdisconnected")


@pytest.fixture
def browser_page(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> Iterator[Page]:
    """A page on the live server that may reach nothing else (see the module docstring)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.route("**/*", _local_only)
    page = context.new_page()
    page.on("console", lambda message: _console(page_problems, message))
    page.on("pageerror", lambda error: page_problems.seen.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: _failed(page_problems, request))
    try:
        yield page
    finally:
        context.close()
    unexpected = page_problems.unexpected()
    if unexpected:
        pytest.fail("the page had problems:\n" + "\n".join(unexpected))


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """`screenshot(page, name)` saves what the page shows as docs/img/NAME.png."""

    def save(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=path)
        return path

    return save
