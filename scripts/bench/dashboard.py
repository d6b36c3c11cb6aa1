"""Dashboard in a browser on PostgreSQL at 1,000,000 events: first paint of `/` and drill-downs.

Usage: .venv/bin/python scripts/bench/dashboard.py [--size 1m] [--repeat 5] [--url postgresql://…]
Loads `funding demo --size` into schemas of its own (dropped afterwards), serves it with
`funding serve` (public read; its projector builds the read models before measuring) and drives
Debian's Chromium (/usr/bin/chromium) with Playwright. Prints, beside each figure, the same
run's reference: the API calls that page makes, timed from Python over HTTP.

- first paint: a new browser context (empty cache) opens `/#/overview`; the time from
  navigation start to the page's `rendered` mark (figures and charts in the DOM) and to its
  `painted` mark (the frame after: the figures on screen);
- drill-down: from the drawn map, the time from a click to the next level's `rendered`
  mark: région, département, EPCI, project; the first time (cold answer cache) and the
  median of the repeats;
- size: the gzip bytes of the scripts and style sheets `/` loads, and of the map data.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
FUNDING = str(Path(sys.executable).with_name("funding"))
PORT = 8799
BASE = f"http://127.0.0.1:{PORT}"
CHROMIUM = "/usr/bin/chromium"
# The drill-down the browser tests take: Hauts-de-France, Pas-de-Calais, CA de Lens-Liévin.
LEVELS = [
    ("région", "svg.map [role=link][aria-label^='Hauts-de-France']", "#/territory/region%3A32"),
    (
        "département",
        "svg.map [role=link][aria-label^='Pas-de-Calais']",
        "#/territory/departement%3A62",
    ),
    ("EPCI", "a[href='#/territory/epci%3A246200364']", "#/territory/epci%3A246200364"),
]
# What each page asks the API (the reference: the same requests timed from Python).
API_CALLS = {
    "overview": [
        "/v1/totals",
        "/v1/totals?group_by=year",
        "/v1/totals?group_by=theme",
        "/v1/totals?group_by=instrument",
        "/v1/totals?group_by=directorate",
        "/v1/totals?group_by=band",
        "/v1/reference",
        "/v1/projections",
    ],
    "région": [
        "/v1/territories/region:32",
        "/v1/totals?territory=region:32",
        "/v1/totals?group_by=departement&territory=region:32",
        "/v1/projects?territory=region:32&limit=200",
    ],
    "département": [
        "/v1/territories/departement:62",
        "/v1/totals?territory=departement:62",
        "/v1/totals?group_by=epci&territory=departement:62",
        "/v1/totals?group_by=departement&territory=region:32",
        "/v1/projects?territory=departement:62&limit=200",
    ],
    "EPCI": [
        "/v1/territories/epci:246200364",
        "/v1/totals?territory=epci:246200364",
        "/v1/totals?group_by=commune&territory=epci:246200364",
        "/v1/projects?territory=epci:246200364&limit=200",
    ],
}


def run(command: list[str], env: dict[str, str]) -> str:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(
            f"{' '.join(command[1:])} failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    print(f"  {' '.join(command[1:])}: {time.perf_counter() - started:.1f} s")
    return done.stdout


@contextmanager
def schemas(base: str) -> Iterator[dict[str, str]]:
    """A store and read models in schemas of their own, dropped at the end."""
    schema = f"bench_dashboard_{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    env = {
        **os.environ,
        "FUNDING_DATABASE_URL": f"{base}?schema={schema}",
        "FUNDING_REPORTING_SCHEMA": f"{schema}_reporting",
        "FUNDING_PUBLIC_READ": "true",
        "FUNDING_LOG_FORMAT": "json",
        "FUNDING_LOG_LEVEL": "WARNING",
        "FUNDING_AUDIT_KEY_FILE": f"/tmp/{schema}.pem",  # noqa: S108
    }
    try:
        yield env
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema}_reporting CASCADE")


@contextmanager
def server(env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(
        [FUNDING, "serve", "--host", "127.0.0.1", "--port", str(PORT)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.perf_counter()
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            try:
                items = httpx.get(f"{BASE}/v1/projections", timeout=5).json()["items"]
                if all(item["lag_events"] == 0 and item["state"] == "live" for item in items):
                    break
            except (httpx.HTTPError, KeyError):
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("the server's read models did not catch up")
        print(f"  serve, read models caught up: {time.perf_counter() - started:.1f} s")
        yield
    finally:
        process.terminate()
        process.wait(30)


def api_reference(calls: list[str]) -> tuple[float, float]:
    """Time of the page's API calls from Python: (slowest call, all calls in sequence), ms."""
    with httpx.Client(base_url=BASE, timeout=30) as http:
        times = []
        for call in calls:
            started = time.perf_counter()
            http.get(call).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return max(times), sum(times)


def rendered(page: Page, route: str) -> float:
    """Milliseconds from navigation start to the page's `rendered` mark for that route."""
    page.wait_for_selector(f"#view[data-rendered='{route}']", state="attached", timeout=30000)
    found: float = page.evaluate(
        "(name) => performance.getEntriesByName(name).at(-1).startTime", f"rendered {route}"
    )
    return found


def first_paint(new_page: Callable[[], Page]) -> tuple[float, float]:
    """A cold page of the overview: (rendered mark, the frame painted after it), ms."""
    page = new_page()
    page.goto(f"{BASE}/#/overview")
    mark = rendered(page, "#/overview")
    page.wait_for_function(
        "(name) => performance.getEntriesByName(name).length", arg="painted #/overview"
    )
    painted: float = page.evaluate(
        "() => performance.getEntriesByName('painted #/overview').at(-1).startTime"
    )
    page.context.close()
    return mark, painted


def drill_down(new_page: Callable[[], Page]) -> dict[str, float]:
    """One walk from the map down to the bus project: ms from each click to the level drawn."""
    page = new_page()
    page.goto(f"{BASE}/#/map")
    rendered(page, "#/map")
    times = {}
    steps = [*LEVELS, ("projet", "text=Bulles : bus", None)]
    for name, selector, route in steps:
        # The click is dispatched in the page, so the time counts the page's work alone.
        started: float = page.evaluate(
            """(selector) => {
                const target = selector.startsWith("text=")
                    ? [...document.querySelectorAll("#view a")].find(
                        (a) => a.textContent.startsWith(selector.slice(5)))
                    : document.querySelector(selector);
                const now = performance.now();
                target.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
                return now;
            }""",
            selector,
        )
        if route is None:
            page.wait_for_selector("#view[data-rendered^='#/project/']", state="attached")
            route = page.evaluate("document.getElementById('view').dataset.rendered")
        times[name] = rendered(page, route) - started
    page.context.close()
    return times


def asset_sizes() -> tuple[int, int]:
    """Gzip bytes of the page's scripts and styles, and of the map data."""
    code = 0
    with httpx.Client(base_url=BASE, headers={"Accept-Encoding": "gzip"}) as http:
        for path in sorted((ROOT / "api" / "dashboard" / "static").rglob("*")):
            if path.suffix in (".js", ".css"):
                url = "/dashboard/" + path.relative_to(ROOT / "api/dashboard/static").as_posix()
                code += int(http.get(url).headers["content-length"])
        map_size = int(http.get("/dashboard/map/france.json").headers["content-length"])
    return code, map_size


def describe(values: list[float]) -> str:
    median = statistics.median(values)
    return f"first {values[0]:.0f} ms, median {median:.0f} ms, max {max(values):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1m")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "FUNDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    base = args.url.partition("?")[0]
    print(f"load average: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    with schemas(base) as env:
        run([FUNDING, "migrate"], env)
        run([FUNDING, "demo", "--size", args.size], env)
        # The server's projector builds the read models (it waits until they reach the head).
        with server(env), sync_playwright() as playwright:
            count = httpx.get(f"{BASE}/v1/totals").json()["position"]
            print(f"log position {count:,}; load average {os.getloadavg()[0]:.1f}")
            browser = playwright.chromium.launch(executable_path=CHROMIUM)

            def new_page() -> Page:
                return browser.new_context(viewport={"width": 1280, "height": 900}).new_page()

            paints = [first_paint(new_page) for _ in range(args.repeat)]
            walks = [drill_down(new_page) for _ in range(args.repeat)]
            browser.close()
            references: dict[str, Any] = {name: api_reference(c) for name, c in API_CALLS.items()}
            code, map_size = asset_sizes()
    print("\nfirst meaningful paint of / (target < 1 s), cold browser cache:")
    print(f"  rendered mark:            {describe([p[0] for p in paints])}")
    print(f"  painted (next frame):     {describe([p[1] for p in paints])}")
    slowest, total = references["overview"]
    print(
        f"  reference, its 8 API calls from Python (warm answer cache): slowest {slowest:.0f} ms,"
        f" in sequence {total:.0f} ms"
    )
    print("drill-down, click to next level drawn (target < 300 ms):")
    for name in ("région", "département", "EPCI", "projet"):
        line = f"  {name:<12} {describe([w[name] for w in walks])}"
        if name in references:
            slowest, total = references[name]
            line += (
                f"   (reference: slowest API call {slowest:.0f} ms, all in sequence {total:.0f} ms)"
            )
        print(line)
    print(
        f"size: scripts and styles {code / 1024:.1f} KiB gzip (target < 500 KB);"
        f" map data {map_size / 1024:.1f} KiB gzip"
    )


if __name__ == "__main__":
    main()
