"""The demo's stories: three conventions and a national spread, and how they are loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from eventsourcing.utils import get_topic

from demo import draws
from demo.book import Book
from demo.planned import demo_id
from demo.planner import Planner
from demo.vocabulary import (
    BASSIN_MINIER_EPCI,
    BASSIN_MINIER_NAMES,
    BASSIN_MINIER_PROJECTS,
    BASSIN_MINIER_THEMES,
    BETHUNE_BRUAY,
    LENS_LIEVIN,
    NATIONAL_PROJECTS,
    PROGRAMME_THEMES,
    WALLERS,
    named_after,
    project_name,
)
from domain.application import Ledger
from domain.convention import Convention
from domain.project import Project
from domain.reference import Instrument

PROGRESS_EVERY = 50
BASSIN_MINIER_CONVENTION_ID = demo_id("convention", "bassin-minier")


@dataclass(frozen=True)
class DemoSummary:
    """What a demo load recorded (all zero, `loaded=False`, when the store held projects)."""

    projects: int
    conventions: int
    commitments: int
    events: int
    loaded: bool


def holds_projects(ledger: Ledger) -> bool:
    """Whether the store holds any project or convention (tokens and other records aside)."""
    topics = [get_topic(Project.ProjectIdentified), get_topic(Convention.ConventionSigned)]
    return bool(ledger.recorder.select_notifications(start=1, limit=1, topics=topics))


def load_demo(ledger: Ledger, progress: Callable[[int, int], None] | None = None) -> DemoSummary:
    """Record the demo data set into a store without projects; one with any is left untouched.

    Tokens may exist already (they are created before anything else): they do not count.
    """
    if holds_projects(ledger):
        return DemoSummary(projects=0, conventions=0, commitments=0, events=0, loaded=False)
    before = ledger.head_position()
    plan = plan_demo()
    steps = sorted(plan.steps, key=lambda step: (step.on, step.seq))
    total = len(steps)
    # One command at a time, in date order: each is checked against the ledger as it stands,
    # all within minutes (and the drawn names of some projects repeat): not duplicates.
    for done, step in enumerate(steps, start=1):
        ledger.execute(step.actor, step.command, confirm_duplicate=True)
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total)
    return DemoSummary(
        projects=plan.projects,
        conventions=plan.conventions,
        commitments=plan.commitments,
        events=ledger.head_position() - before,
        loaded=True,
    )


def plan_demo() -> Book:
    """Plan every command of the demo: the same plan on every call."""
    planner = Planner()
    bassin_minier(planner)
    fessenheim(planner)
    marseille(planner)
    for code, count in NATIONAL_PROJECTS.items():
        for _ in range(count):
            planner.national_project(code)
    planner.ensure_territory_move()
    return planner


def bassin_minier(planner: Planner) -> None:
    """The Bassin minier convention, its three flagship projects and 56 more."""
    rng = planner.rng
    directorate = "hauts_de_france"
    signed_on = date(2019, 3, 12)
    convention = planner.sign_convention(
        "bassin-minier",
        title="Engagement pour le renouveau du Bassin minier du Nord et du Pas-de-Calais",
        directorate=directorate,
        signatories=[*BASSIN_MINIER_EPCI, "departement:59", "departement:62"],
        themes=list(BASSIN_MINIER_THEMES),
        signed_on=signed_on,
        ends_on=date(2027, 12, 31),
        envelope=200_000_000_00,
    )
    get = planner.territories.get

    bhns = planner.identify(
        directorate,
        get(LENS_LIEVIN),
        name="Bulles : bus à haut niveau de service du réseau Artois-Gohelle",
        theme="mobility",
        on=date(2019, 3, 20),
        estimated_cost=152_000_000_00,
    )
    planner.link(bhns, convention, signed_on)
    loan = planner.lend(bhns, date(2019, 7, 9), 35_000_000_00, years=40)
    for on, amount in (
        (date(2019, 10, 15), 10_000_000_00),
        (date(2020, 6, 30), 12_500_000_00),
        (date(2021, 3, 31), 12_500_000_00),
    ):
        planner.disburse(loan, on, amount)
    for year in range(2022, 2026):
        planner.repay(loan, date(year, 7, 9), 875_000_00)

    mine = planner.identify(
        directorate,
        get(WALLERS),
        name="CréativeMine : pôle des industries créatives sur le site minier d'Arenberg",
        theme="tourism",
        on=date(2019, 5, 14),
        estimated_cost=29_000_000_00,
    )
    planner.link(mine, convention, signed_on)
    study = planner.study(
        mine,
        date(2019, 9, 2),
        85_000_00,
        subject="Étude de programmation et de modèle économique",
        provider="Atelier Ville & Territoires",
    )
    planner.disburse(study, date(2019, 10, 1), 25_500_00)
    planner.deliver(study, date(2020, 4, 30))
    planner.disburse(study, date(2020, 5, 20), 59_500_00)
    stake = planner.equity(
        mine,
        date(2020, 11, 17),
        1_400_000_00,
        stake=Decimal("24.5"),
        vehicle="SAS CréativeMine Arenberg",
    )
    planner.disburse(stake, date(2021, 1, 15), 700_000_00)
    planner.disburse(stake, date(2022, 2, 10), 700_000_00)

    housing = planner.identify(
        directorate,
        get(BETHUNE_BRUAY),
        name="Rénovation des cités minières du Bassin minier",
        theme="housing_renovation",
        on=date(2019, 4, 2),
        estimated_cost=1_000_000_000_00,
    )
    planner.link(housing, convention, signed_on)
    planner.set_indicator(
        housing,
        date(2019, 6, 3),
        indicator="homes_renovated",
        unit="logements",
        target=20_000,
        due=date(2027, 12, 31),
    )
    for on, value in ((date(2021, 12, 31), 4_120), (date(2023, 12, 31), 9_870)):
        planner.measure(housing, on, indicator="homes_renovated", value=value)
    first = planner.lend(housing, date(2019, 9, 24), 40_000_000_00, years=40)
    second = planner.lend(housing, date(2022, 3, 15), 38_500_000_00, years=40)
    for commitment in (first, second):
        planner.pay_out(commitment, 1.0, 4)
        planner.amortise(commitment)
    planner.measure(housing, date(2025, 6, 30), indicator="homes_renovated", value=13_450)

    # The other 56: seven per intercommunalité, about half with a study, some with loans.
    studies = 0
    for index in range(BASSIN_MINIER_PROJECTS - 3):
        epci = get(BASSIN_MINIER_EPCI[index % len(BASSIN_MINIER_EPCI)])
        territory = epci
        if rng.random() < 0.8:
            communes = planner.territories.children(epci.code)
            territory = rng.choices(communes, weights=[c.population or 1 for c in communes])[0]
        programme = draws.programme(rng, territory)
        themes = [
            t
            for t in PROGRAMME_THEMES.get(programme or "", BASSIN_MINIER_THEMES)
            if t in BASSIN_MINIER_THEMES
        ]
        theme = rng.choice(themes or BASSIN_MINIER_THEMES)
        if studies < 29 and (index % 2 == 0 or rng.random() < 0.1):
            instruments: tuple[Instrument, ...] = (Instrument.STUDY,)
            if rng.random() < 0.3:
                instruments = (Instrument.STUDY, Instrument.LOAN)
            studies += 1
        else:
            instruments = draws.pattern(rng, theme)
            if Instrument.STUDY in instruments:
                instruments = tuple(i for i in instruments if i is not Instrument.STUDY)
            instruments = instruments or (Instrument.LOAN,)
        name = project_name(rng, theme, territory)
        if theme in BASSIN_MINIER_NAMES and rng.random() < 0.6:
            name = named_after(rng.choice(BASSIN_MINIER_NAMES[theme]), territory)
        project = planner.identify(
            directorate,
            territory,
            name=name,
            theme=theme,
            on=draws.random_day(rng, signed_on, date(2024, 12, 31)),
            programme=programme,
            estimated_cost=draws.estimated_cost(rng, instruments, territory),
        )
        planner.link(project, convention, signed_on)
        planner.funded_project(project, instruments)


def fessenheim(planner: Planner) -> None:
    """The Fessenheim territory convention: the power plant's closure and what follows."""
    rng = planner.rng
    directorate = "grand_est"
    signed_on = date(2019, 2, 1)
    epci = planner.territories.get("epci:200066025")
    convention = planner.sign_convention(
        "fessenheim",
        title="Projet d'avenir du territoire de Fessenheim",
        directorate=directorate,
        signatories=[epci.code, "departement:68", "region:44"],
        themes=["energy_transition", "economic_development", "mobility", "brownfields"],
        signed_on=signed_on,
        ends_on=date(2029, 12, 31),
        envelope=40_000_000_00,
    )
    communes = planner.territories.children(epci.code)
    for theme, instruments in (
        ("energy_transition", (Instrument.STUDY, Instrument.EQUITY)),
        ("economic_development", (Instrument.STUDY, Instrument.LOAN)),
        ("brownfields", (Instrument.STUDY,)),
        ("mobility", (Instrument.LOAN,)),
    ):
        territory = rng.choice([epci, *communes[:6]])
        project = planner.identify(
            directorate,
            territory,
            name=project_name(rng, theme, territory),
            theme=theme,
            on=draws.random_day(rng, signed_on, date(2022, 12, 31)),
            programme="territoires_d_industrie" if territory is epci else None,
            estimated_cost=draws.estimated_cost(rng, instruments, territory),
        )
        planner.link(project, convention, signed_on)
        planner.funded_project(project, instruments, may_close=False)


def marseille(planner: Planner) -> None:
    """The Marseille en Grand partnership: schools and transport in the city."""
    rng = planner.rng
    directorate = "provence_alpes_cote_d_azur"
    signed_on = date(2021, 11, 25)
    city = planner.territories.get("commune:13055")
    convention = planner.sign_convention(
        "marseille-en-grand",
        title="Marseille en Grand : écoles, mobilités et rénovation urbaine",
        directorate=directorate,
        signatories=[city.code, "epci:200054807"],
        themes=["education", "mobility", "housing_renovation"],
        signed_on=signed_on,
        ends_on=date(2031, 12, 31),
        envelope=150_000_000_00,
    )
    for theme, instruments in (
        ("education", (Instrument.STUDY, Instrument.LOAN)),
        ("education", (Instrument.LOAN,)),
        ("mobility", (Instrument.LOAN,)),
        ("housing_renovation", (Instrument.STUDY, Instrument.LOAN)),
        ("education", (Instrument.STUDY,)),
    ):
        project = planner.identify(
            directorate,
            city,
            name=project_name(rng, theme, city),
            theme=theme,
            on=draws.random_day(rng, signed_on, date(2023, 12, 31)),
            estimated_cost=draws.estimated_cost(rng, instruments, city),
        )
        planner.link(project, convention, signed_on)
        planner.funded_project(project, instruments, may_close=False)
