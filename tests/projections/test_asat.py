"""The portfolio as at a past time: the instant parsed, the log cut, the totals replayed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import Ledger
from domain.commands import CorrectCommitmentAmount, GrantLoan, IdentifyProject
from domain.errors import InvalidValueError
from domain.outcomes import recorded_at
from domain.values import Actor
from eventstore.settings import MEMORY_URL, library_env
from projections.asat import Question, parse_as_at, totals_as_at
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.totals.queries import totals
from tests.projections.test_property import STEPS, Books

ACTOR = Actor(name="dr-hdf", directorate="hauts_de_france")
NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


def test_a_date_alone_is_the_end_of_that_day_in_paris_in_winter() -> None:
    assert parse_as_at("2024-12-31", NOW) == datetime(2024, 12, 31, 22, 59, 59, 999_999, UTC)


def test_a_date_alone_is_the_end_of_that_day_in_paris_in_summer() -> None:
    assert parse_as_at("2025-07-14", NOW) == datetime(2025, 7, 14, 21, 59, 59, 999_999, UTC)


def test_a_timestamp_keeps_its_offset() -> None:
    assert parse_as_at("2025-01-15T12:00:00+01:00", NOW) == datetime(2025, 1, 15, 11, 0, 0, 0, UTC)


def test_a_z_timestamp_is_utc() -> None:
    assert parse_as_at("2025-01-15T12:00:00Z", NOW) == datetime(2025, 1, 15, 12, 0, 0, 0, UTC)


def test_an_offset_whose_plus_a_query_string_made_a_space_is_read() -> None:
    assert parse_as_at("2025-01-15T12:00:00 01:00", NOW) == datetime(2025, 1, 15, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2025-01-15T12:00:00", "no offset"),
        ("2025-01-15 12:00", "no offset"),
        ("yesterday", "neither a date"),
        ("2025-02-30", "not a date"),
        ("2026-12-04T16:00:00+00:00", "has not come yet"),
        ("2026-12-04", "has not come yet"),
    ],
)
def test_an_unreadable_naive_or_future_instant_is_refused(text: str, says: str) -> None:
    with pytest.raises(InvalidValueError, match=says):
        parse_as_at(text, NOW)


@pytest.fixture
def memory_ledger() -> Iterator[Ledger]:
    ledger = Ledger(env=library_env(MEMORY_URL))
    yield ledger
    ledger.close()


def _loan(ledger: Ledger, amount: str) -> tuple[Any, Any]:
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
    loan = ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project.id, amount=amount, granted_on=date(2024, 3, 1), duration_months=120
        ),
    )
    return project, loan


def test_a_correction_recorded_after_the_instant_is_absent_as_at_it_and_present_now(
    memory_ledger: Ledger,
) -> None:
    project, loan = _loan(memory_ledger, "1000.00")
    before_correction = datetime.now(UTC)
    memory_ledger.execute(
        ACTOR,
        CorrectCommitmentAmount(
            project_id=project.id,
            commitment_id=loan.commitment_id,
            amount="1500.00",
            reason="erreur de saisie",
        ),
    )

    then = totals_as_at(memory_ledger, MEMORY_URL, before_correction, Question.of(["year"]))
    now = totals_as_at(memory_ledger, MEMORY_URL, datetime.now(UTC), Question.of(["year"]))

    assert then.totals.total["committed"] == Decimal("1000.00")
    assert then.cut.position == loan.position
    assert then.cut.final
    assert now.totals.total["committed"] == Decimal("1500.00")
    assert now.cut.position == memory_ledger.head_position()
    assert not now.cut.final


def test_an_instant_before_the_first_event_covers_nothing(memory_ledger: Ledger) -> None:
    first = datetime.now(UTC) - timedelta(seconds=1)
    _loan(memory_ledger, "1000.00")

    report = totals_as_at(memory_ledger, MEMORY_URL, first, Question.of())

    assert (report.cut.position, report.cut.tree_size, report.cut.final) == (0, 0, True)
    assert report.totals.total["committed"] == Decimal("0.00")


def test_the_report_as_at_now_equals_the_live_totals(memory_ledger: Ledger) -> None:
    _loan(memory_ledger, "1000.00")
    _loan(memory_ledger, "250.50")
    db = ReadModelDatabase.from_url(MEMORY_URL)
    catch_up(memory_ledger, db)

    report = totals_as_at(memory_ledger, MEMORY_URL, datetime.now(UTC), Question.of(["theme"]))
    live = totals(db, ["theme"])
    db.close()

    assert (report.totals.rows, report.totals.total) == (live.rows, live.total)
    assert report.cut.position == live.position
    assert report.cut.tree_size == len(memory_ledger.recorder.select_notifications(1, 10**6))


# Random histories ---------------------------------------------------------------------------


def _recorded_prefix(ledger: Ledger, at: datetime) -> list[Any]:
    """The domain events recorded up to `at`: the log's longest prefix all stamped ≤ at."""
    events = []
    for notification in ledger.recorder.select_notifications(1, 10**6):
        event: Any = ledger.mapper.to_domain_event(notification)
        if recorded_at(event) > at:
            break
        events.append(event)
    return events


def _recomputed(events: list[Any]) -> dict[tuple[str | None, str, int], list[Decimal]]:
    """Sums by (instrument, theme, year) computed directly from the events, in euros:
    committed, cancelled, disbursed, repaid, projects. An entry voided leaves every sum; a
    movement reversed is taken back at its own date; a corrected date moves the commitment."""
    themes: dict[Any, str] = {}
    commitments: dict[Any, tuple[str, date, Decimal, Any]] = {}
    # [instrument, project, year, measure, value, commitment]
    rows: list[list[Any]] = []
    created = {"LoanGranted": "loan", "EquityInvested": "equity", "StudyLaunched": "study"}
    for e in events:
        kind = type(e).__name__
        pid = e.originator_id
        cid = getattr(e, "commitment_id", None)
        if kind == "ProjectIdentified":
            themes[pid] = e.theme
            rows.append([None, pid, e.identified_on.year, 4, Decimal(1), None])
        elif kind == "ProjectDetailsCorrected" and e.theme:
            themes[pid] = e.theme
        elif kind in created:
            on = getattr(
                e, {"loan": "granted_on", "equity": "invested_on"}.get(created[kind], "launched_on")
            )
            commitments[cid] = (created[kind], on, e.amount, pid)
            rows.append([created[kind], pid, on.year, 0, e.amount, cid])
        elif kind == "CommitmentAmountCorrected":
            instrument, on, amount, _ = commitments[cid]
            commitments[cid] = (instrument, on, e.amount, pid)
            rows.append([instrument, pid, on.year, 0, e.amount - amount, cid])
        elif kind == "CommitmentCancelled":
            rows.append([commitments[cid][0], pid, e.cancelled_on.year, 1, e.amount, cid])
        elif kind == "FundsDisbursed":
            rows.append([commitments[cid][0], pid, e.disbursed_on.year, 2, e.amount, cid])
        elif kind == "LoanRepaid":
            rows.append(["loan", pid, e.repaid_on.year, 3, e.principal, cid])
        elif kind == "DisbursementReversed":
            rows.append([commitments[cid][0], pid, e.disbursed_on.year, 2, -e.amount, cid])
        elif kind == "RepaymentReversed":
            rows.append(["loan", pid, e.repaid_on.year, 3, -e.principal, cid])
        elif kind == "CommitmentVoided":
            rows = [row for row in rows if row[5] != cid]
        elif kind == "ProjectVoided":
            rows = [row for row in rows if row[1] != pid]
        elif kind == "CommitmentDateCorrected":
            instrument, _, amount, _ = commitments[cid]
            commitments[cid] = (instrument, e.committed_on, amount, pid)
            for row in rows:
                if row[5] == cid and row[3] == 0:
                    row[2] = e.committed_on.year
    sums: dict[tuple[str | None, str, int], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 5)
    for instrument_of_row, pid, year, i, value, _ in rows:
        sums[(instrument_of_row, themes[pid], year)][i] += value
    return {key: values for key, values in sums.items() if any(values)}


def _answered(rows: list[dict[str, Any]]) -> dict[tuple[str | None, str, int], list[Decimal]]:
    measures = ("committed", "cancelled", "disbursed", "repaid", "projects")
    return {
        (row["instrument"], row["theme"], row["year"]): [Decimal(row[m]) for m in measures]
        for row in rows
    }


@given(steps=STEPS, cuts=st.lists(st.floats(0, 1), min_size=1, max_size=4))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_as_at_any_cut_the_totals_are_those_of_the_events_recorded_before_it(
    steps: list[tuple[int, int, int, int]], cuts: list[float]
) -> None:
    ledger = Ledger(env=library_env(MEMORY_URL))
    try:
        books = Books(ledger)
        for step in steps:
            books.run(step)
        stamps = [
            recorded_at(ledger.mapper.to_domain_event(n))
            for n in ledger.recorder.select_notifications(1, 10**6)
        ]
        first, last = min(stamps), max(stamps)
        for share in cuts:
            # Any instant from just before the first event to the last, often between two.
            at = first - timedelta(microseconds=1) + (last - first) * share

            report = totals_as_at(
                ledger, MEMORY_URL, at, Question.of(["instrument", "theme", "year"])
            )

            recorded = _recorded_prefix(ledger, at)
            assert report.cut.tree_size == len(recorded)
            assert report.cut.position == (
                0
                if not recorded
                else ledger.positions.event_positions(recorded[-1].originator_id)[
                    recorded[-1].originator_version
                ]
            )
            assert _answered(report.totals.rows) == _recomputed(recorded)
    finally:
        ledger.close()
