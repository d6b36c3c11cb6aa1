"""The demo data set: loaded once into an empty store, deterministic and true to the brief."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from eventsourcing.domain import Aggregate

from api.tokens import create_token
from demo import BASSIN_MINIER_CONVENTION_ID, DemoSummary, load_demo
from domain.application import Ledger
from domain.commands import IdentifyProject
from domain.project import Project
from domain.reference import DIRECTORATES, PROGRAMMES, THEMES, Instrument
from domain.reference.territories import Band, TerritoryLevel, load_territories
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env

BASSIN_MINIER_EPCI = {
    "epci:200072460",
    "epci:200044618",
    "epci:246200299",
    "epci:246200364",
    "epci:200042190",
    "epci:245901160",
    "epci:245901152",
    "epci:200044048",
}
WALLERS = "commune:59632"


@dataclass(frozen=True)
class Demo:
    """A ledger holding the demo, what the load reported and every project it recorded."""

    ledger: Ledger
    summary: DemoSummary
    projects: list[Project]
    progress: list[tuple[int, int]]


def load_into_empty_store() -> tuple[Ledger, DemoSummary, list[tuple[int, int]]]:
    """Load the demo into a fresh in-memory store, recording the progress reports."""
    ledger = Ledger(env=library_env("memory://"))
    reports: list[tuple[int, int]] = []
    summary = load_demo(ledger, lambda done, total: reports.append((done, total)))
    return ledger, summary, reports


def projects_of(ledger: Ledger) -> list[Project]:
    """Return every project in the store, in log order."""
    aggregates: Iterator[Aggregate] = (
        ledger.repository.get(i) for i in ledger.iter_aggregate_ids()
    )
    return [a for a in aggregates if isinstance(a, Project)]


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """The demo, loaded once for the whole module."""
    ledger, summary, reports = load_into_empty_store()
    try:
        yield Demo(ledger, summary, projects_of(ledger), reports)
    finally:
        ledger.close()


def test_the_demo_records_a_few_thousand_events(demo: Demo) -> None:
    summary = demo.summary

    assert summary.loaded
    assert 3_000 <= summary.events <= 5_000
    assert summary.events == demo.ledger.head_position()


def test_the_summary_counts_what_was_recorded(demo: Demo) -> None:
    commitments = sum(len(p.commitments) for p in demo.projects)

    assert demo.summary.projects == len(demo.projects)
    assert demo.summary.commitments == commitments
    assert demo.summary.conventions >= 1


def test_progress_is_reported_up_to_the_planned_total(demo: Demo) -> None:
    done = [d for d, _ in demo.progress]
    totals = {t for _, t in demo.progress}

    assert len(totals) == 1
    assert done == sorted(done)
    assert demo.progress[-1][0] == demo.progress[-1][1]


def test_loading_the_demo_again_changes_nothing(demo: Demo) -> None:
    head = demo.ledger.head_position()

    second = load_demo(demo.ledger)

    assert not second.loaded
    assert demo.ledger.head_position() == head


def test_the_bassin_minier_convention_has_ten_signatories_and_eight_themes(demo: Demo) -> None:
    convention = demo.ledger.convention(BASSIN_MINIER_CONVENTION_ID)

    assert set(convention.signatories) == {*BASSIN_MINIER_EPCI, "departement:59", "departement:62"}
    assert len(convention.signatories) == 10
    assert len(set(convention.themes)) == 8
    assert set(convention.themes) <= set(THEMES)
    assert convention.signed_on == date(2019, 3, 12)
    assert convention.directorate == "hauts_de_france"
    assert convention.envelope is not None


def test_the_bus_rapid_transit_line_has_its_35_million_loan(demo: Demo) -> None:
    loans = [
        (p, c)
        for p in demo.projects
        for c in p.commitments.values()
        if c.instrument is Instrument.LOAN and c.amount == Decimal("35000000.00")
    ]

    assert len(loans) == 1
    project, loan = loans[0]
    assert project.territory in BASSIN_MINIER_EPCI
    assert project.theme == "mobility"
    assert loan.disbursed > 0


def test_the_wallers_project_has_its_equity_investment_and_estimated_cost(demo: Demo) -> None:
    wallers = [p for p in demo.projects if p.territory == WALLERS]
    equity = [
        c
        for p in wallers
        for c in p.commitments.values()
        if c.instrument is Instrument.EQUITY and c.amount == Decimal("1400000.00")
    ]

    assert equity
    assert Decimal("29000000.00") in {p.estimated_cost for p in wallers}


def test_fifty_nine_projects_in_the_eight_intercommunalities_are_linked_to_the_convention(
    demo: Demo,
) -> None:
    territories = load_territories()
    linked = [p for p in demo.projects if BASSIN_MINIER_CONVENTION_ID in p.conventions]

    assert len(linked) == 59
    assert all(
        territories.get(p.territory).at_level(TerritoryLevel.EPCI) in BASSIN_MINIER_EPCI
        for p in linked
    )


def test_about_thirty_studies_are_launched_under_the_convention(demo: Demo) -> None:
    linked = [p for p in demo.projects if BASSIN_MINIER_CONVENTION_ID in p.conventions]
    studies = [
        c for p in linked for c in p.commitments.values() if c.instrument is Instrument.STUDY
    ]

    assert 25 <= len(studies) <= 35
    assert any(c.delivered_on is not None for c in studies)


def test_the_mining_housing_project_tracks_homes_renovated(demo: Demo) -> None:
    tracked = [
        p.indicators["homes_renovated"]
        for p in demo.projects
        if BASSIN_MINIER_CONVENTION_ID in p.conventions and "homes_renovated" in p.indicators
    ]

    assert len(tracked) == 1
    assert tracked[0].target == 20_000
    assert tracked[0].unit == "logements"
    assert tracked[0].due_on == date(2027, 12, 31)
    assert len(tracked[0].measurements) >= 2


def test_every_directorate_has_a_project_in_its_own_regions(demo: Demo) -> None:
    territories = load_territories()

    assert {p.directorate for p in demo.projects} == set(DIRECTORATES)
    assert all(
        territories.get(p.territory).at_level(TerritoryLevel.REGION)
        in DIRECTORATES[p.directorate].regions
        for p in demo.projects
    )


def test_every_instrument_appears(demo: Demo) -> None:
    instruments = {c.instrument for p in demo.projects for c in p.commitments.values()}

    assert instruments == set(Instrument)


def test_every_programme_appears(demo: Demo) -> None:
    assert {p.programme for p in demo.projects} >= set(PROGRAMMES)


def test_every_band_appears_among_communes_and_intercommunalities(demo: Demo) -> None:
    territories = load_territories()
    places = [territories.get(p.territory) for p in demo.projects]

    for level in (TerritoryLevel.COMMUNE, TerritoryLevel.EPCI):
        assert {t.band for t in places if t.level is level} == set(Band)


def test_every_level_of_territory_appears(demo: Demo) -> None:
    territories = load_territories()

    assert {territories.get(p.territory).level for p in demo.projects} == set(TerritoryLevel)


def test_some_projects_are_completed_and_some_abandoned(demo: Demo) -> None:
    statuses = {p.status.value for p in demo.projects}

    assert statuses == {"active", "completed", "abandoned"}


def test_money_moves_under_commitments(demo: Demo) -> None:
    commitments = [c for p in demo.projects for c in p.commitments.values()]

    assert any(c.repaid > 0 for c in commitments)
    assert any(c.cancelled > 0 for c in commitments)
    assert all(c.disbursed <= c.net_committed for c in commitments)


def test_a_correction_moves_a_project_to_another_territory(demo: Demo) -> None:
    moved = [
        p
        for p in demo.projects
        if any(
            e.type == "ProjectDetailsCorrected" and e.data["territory"] is not None
            for e in demo.ledger.project_events(p.id)
        )
    ]

    assert moved


def test_every_event_records_the_demo_actor_and_the_projects_directorate(demo: Demo) -> None:
    project = demo.projects[0]

    events = demo.ledger.project_events(project.id)

    assert {e.meta["actor"] for e in events} == {"demo"}
    assert {e.meta["directorate"] for e in events} == {project.directorate}


def test_two_loads_into_two_empty_stores_give_identical_project_ids(demo: Demo) -> None:
    ledger, _, _ = load_into_empty_store()
    try:
        again = projects_of(ledger)
    finally:
        ledger.close()

    assert [p.id for p in again] == [p.id for p in demo.projects]


def test_the_demo_loads_into_a_store_holding_only_tokens() -> None:
    ledger = Ledger(env=library_env("memory://"))
    try:
        create_token(ledger, name="admin", role=Role.ADMIN)
        before = ledger.head_position()

        summary = load_demo(ledger)

        assert summary.loaded
        assert summary.projects == len(projects_of(ledger)) > 0
        assert summary.events == ledger.head_position() - before
    finally:
        ledger.close()


def test_the_demo_leaves_a_store_holding_a_project_untouched() -> None:
    ledger = Ledger(env=library_env("memory://"))
    try:
        ledger.execute(
            Actor(name="someone"),
            IdentifyProject(
                name="Tramway",
                territory="commune:59650",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2024, 1, 2),
            ),
        )
        head = ledger.head_position()

        summary = load_demo(ledger)

        assert not summary.loaded
        assert ledger.head_position() == head
    finally:
        ledger.close()
