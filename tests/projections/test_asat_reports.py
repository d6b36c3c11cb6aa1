"""As-at reports side by side: scratch tables apart and dropped, the work bounded, answers kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject
from domain.values import Actor
from eventstore.settings import library_env
from projections.asat import AsAtBusyError, AsAtReports, Question, totals_as_at
from tests.conftest import POSTGRES_URL

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'ledger.sqlite3'}"
    found: str = request.getfixturevalue("postgres_url")
    return found


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    path = url.removeprefix("sqlite:///")
    if path != url:
        Path(path).parent.mkdir()
    app = Ledger(env=library_env(url))
    yield app
    app.close()


def _loan(ledger: Ledger, amount: str) -> datetime:
    """Record a project with a loan; return an instant just after."""
    project = ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Tramway",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 10),
        ),
    )
    ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project.id, amount=amount, granted_on=date(2024, 3, 1), duration_months=60
        ),
    )
    return datetime.now(UTC)


def _scratch_left(url: str) -> list[str]:
    if url.startswith("sqlite:///"):
        return [p.name for p in Path(url.removeprefix("sqlite:///")).parent.iterdir() if p.is_dir()]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'scratch\\_%'"
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_reports_at_two_instants_run_at_once_apart_and_leave_nothing_behind(
    ledger: Ledger, url: str
) -> None:
    first = _loan(ledger, "1000.00")
    second = _loan(ledger, "234.56")
    before = _scratch_left(url)
    both_replaying = threading.Barrier(2, timeout=60)
    answers: dict[datetime, Decimal] = {}

    def meet(*_: int) -> None:
        both_replaying.wait()

    def report(at: datetime) -> None:
        answer = totals_as_at(ledger, url, at, Question.of(), progress=meet)
        answers[at] = answer.totals.total["committed"]

    threads = [threading.Thread(target=report, args=(at,)) for at in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == {first: Decimal("1000.00"), second: Decimal("1234.56")}
    assert _scratch_left(url) == before


def test_a_report_waits_for_a_slot_then_gives_up(ledger: Ledger, url: str) -> None:
    at = _loan(ledger, "1000.00")
    reports = AsAtReports(slots=1, wait=0)
    replaying, refused = threading.Event(), threading.Event()

    def hold_the_slot(*_: int) -> None:
        replaying.set()
        refused.wait(60)

    holder = threading.Thread(
        target=reports.totals,
        args=(ledger, url, at, Question.of()),
        kwargs={"progress": hold_the_slot},
    )
    holder.start()
    replaying.wait(60)
    try:
        with pytest.raises(AsAtBusyError):
            reports.totals(ledger, url, at, Question.of(["year"]))
    finally:
        refused.set()
        holder.join()


def test_a_final_answer_is_served_again_without_replaying(ledger: Ledger, url: str) -> None:
    at = _loan(ledger, "1000.00")
    _loan(ledger, "5.00")
    reports = AsAtReports()
    pages: list[int] = []

    first = reports.totals(ledger, url, at, Question.of(), progress=lambda n, _: pages.append(n))
    again = reports.totals(ledger, url, at, Question.of(), progress=lambda n, _: pages.append(n))

    assert first.cut.final
    assert again == first
    assert len(pages) == 1
