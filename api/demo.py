"""Demo data: a deterministic, realistic ledger around the Bassin minier convention and France."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.utils import get_topic

from domain.application import Ledger, Written
from domain.convention import Convention
from domain.project import Project
from domain.reference import DIRECTORATES, Instrument
from domain.reference.territories import (
    Band,
    Territories,
    Territory,
    TerritoryLevel,
    load_territories,
)
from domain.values import Actor

SEED = 2026
NAMESPACE = uuid5(NAMESPACE_URL, "funding-tracker:demo")
ACTOR_NAME = "demo"
# Every effective date lies in this window: the seven years the demo covers.
FIRST_DAY = date(2019, 1, 1)
LAST_DAY = date(2025, 12, 31)
PROGRESS_EVERY = 50

BASSIN_MINIER_EPCI = (
    "epci:200072460",  # CA de Béthune-Bruay, Artois-Lys Romane
    "epci:200044618",  # CA Douaisis Agglo
    "epci:246200299",  # CA d'Hénin-Carvin
    "epci:246200364",  # CA de Lens - Liévin
    "epci:200042190",  # CA de la Porte du Hainaut
    "epci:245901160",  # CA Valenciennes Métropole
    "epci:245901152",  # CA Coeur d'Ostrevent
    "epci:200044048",  # CC Osartis Marquion
)
BASSIN_MINIER_THEMES = (
    "housing_renovation",
    "energy_transition",
    "mobility",
    "economic_development",
    "brownfields",
    "town_centres",
    "tourism",
    "education",
)
BASSIN_MINIER_PROJECTS = 59
LENS_LIEVIN = "epci:246200364"
BETHUNE_BRUAY = "epci:200072460"
WALLERS = "commune:59632"

# Projects of the national spread per directorate, roughly in proportion to its activity.
NATIONAL_PROJECTS: dict[str, int] = {
    "auvergne_rhone_alpes": 42,
    "bourgogne_franche_comte": 21,
    "bretagne": 24,
    "centre_val_de_loire": 18,
    "corse": 9,
    "grand_est": 33,
    "hauts_de_france": 27,
    "ile_de_france": 45,
    "normandie": 24,
    "nouvelle_aquitaine": 39,
    "occitanie": 39,
    "pays_de_la_loire": 24,
    "provence_alpes_cote_d_azur": 30,
    "antilles_guyane": 15,
    "ocean_indien": 13,
    "pacifique": 9,
}
REFERENCE_PREFIX: dict[str, str] = {
    "auvergne_rhone_alpes": "ARA",
    "bourgogne_franche_comte": "BFC",
    "bretagne": "BRE",
    "centre_val_de_loire": "CVL",
    "corse": "COR",
    "grand_est": "GES",
    "hauts_de_france": "HDF",
    "ile_de_france": "IDF",
    "normandie": "NOR",
    "nouvelle_aquitaine": "NAQ",
    "occitanie": "OCC",
    "pays_de_la_loire": "PDL",
    "provence_alpes_cote_d_azur": "PACA",
    "antilles_guyane": "AGY",
    "ocean_indien": "OIN",
    "pacifique": "PAC",
}

# What a project is called, per theme: (for a commune, for a wider territory).
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "economic_development": (
        ("Hôtel d'entreprises", "Extension de la zone d'activités", "Halle commerciale"),
        ("Parc d'activités intercommunal", "Foncière d'immobilier productif", "Village d'artisans"),
    ),
    "town_centres": (
        ("Revitalisation du centre-bourg", "Requalification de la place du marché"),
        ("Foncière de redynamisation commerciale", "Opération de revitalisation du territoire"),
    ),
    "smart_city": (
        ("Éclairage public intelligent", "Hyperviseur urbain"),
        ("Plateforme de données territoriales", "Gestion connectée des réseaux d'eau"),
    ),
    "mobility": (
        ("Pôle d'échanges multimodal", "Pistes cyclables structurantes", "Parking relais"),
        (
            "Ligne de bus à haut niveau de service",
            "Véloroute intercommunale",
            "Navettes électriques",
        ),
    ),
    "tourism": (
        ("Rénovation de l'office de tourisme", "Résidence de tourisme", "Camping municipal"),
        ("Véloroute touristique", "Hébergements touristiques de pleine nature"),
    ),
    "energy_transition": (
        ("Réseau de chaleur biomasse", "Rénovation énergétique des écoles", "Ombrières solaires"),
        ("Centrale photovoltaïque au sol", "Unité de méthanisation", "Parc éolien citoyen"),
    ),
    "brownfields": (
        ("Reconversion de la friche industrielle", "Requalification de la friche ferroviaire"),
        ("Dépollution et aménagement d'une ancienne usine", "Reconversion d'un site militaire"),
    ),
    "housing_renovation": (
        ("Résorption de l'habitat indigne", "Réhabilitation de l'îlot ancien"),
        ("Opération programmée d'amélioration de l'habitat", "Rénovation énergétique de l'habitat"),
    ),
    "social_housing": (
        ("Construction de logements sociaux", "Résidence seniors", "Résidence jeunes actifs"),
        ("Programme de logements locatifs sociaux", "Réhabilitation du parc social"),
    ),
    "health": (
        ("Maison de santé pluriprofessionnelle", "Centre de santé municipal"),
        ("Extension de l'EHPAD intercommunal", "Réseau de centres de santé"),
    ),
    "education": (
        ("Groupe scolaire", "Restaurant scolaire", "Rénovation de l'école élémentaire"),
        ("Rénovation des collèges", "Construction d'un lycée", "Campus des métiers"),
    ),
    "culture_sport": (
        ("Médiathèque", "Centre aquatique", "Salle de spectacles", "Complexe sportif"),
        ("Centre aquatique intercommunal", "Réseau de lecture publique"),
    ),
    "digital": (
        ("Tiers-lieu numérique", "Espace France Services"),
        ("Déploiement de la fibre optique", "Centre de données territorial"),
    ),
}
# The mining basin's own vocabulary, for the convention's projects.
BASSIN_MINIER_NAMES: dict[str, tuple[str, ...]] = {
    "brownfields": ("Reconversion du carreau de fosse", "Requalification de l'ancienne cokerie"),
    "tourism": ("Valorisation du terril", "Parcours de découverte du patrimoine minier"),
    "housing_renovation": ("Réhabilitation de la cité minière", "Rénovation des corons"),
    "energy_transition": ("Réseau de chaleur sur eaux de mine", "Centrale solaire sur terril"),
}
STUDY_SUBJECTS = (
    "Étude de faisabilité",
    "Étude de programmation",
    "Étude de préfiguration",
    "Étude de marché et de positionnement",
    "Assistance à maîtrise d'ouvrage",
    "Diagnostic patrimonial et énergétique",
    "Schéma directeur immobilier",
    "Étude de stratégie foncière",
    "Montage juridique et financier",
)
STUDY_PROVIDERS = (
    "Cerema",
    "Atelier Ville & Territoires",
    "Territoires Conseil",
    "Bureau d'études Énergies Locales",
    "Cabinet Urbain Durable",
    "Ingénierie Publique Associée",
    "Agence d'urbanisme",
)
EQUITY_VEHICLES = ("SEM", "SAS de projet", "SCIC", "Société de projet", "Foncière")
# Themes where the bank takes equity stakes (companies with revenue); elsewhere it lends.
EQUITY_THEMES = frozenset(
    {
        "economic_development",
        "tourism",
        "energy_transition",
        "smart_city",
        "digital",
        "brownfields",
        "health",
    }
)
LOAN_PRODUCTS: dict[str, tuple[str, Decimal]] = {
    "mobility": ("Mobi Prêt", Decimal("0.60")),
    "education": ("Edu Prêt", Decimal("0.40")),
    "energy_transition": ("Prêt Transition écologique", Decimal("0.40")),
    "social_housing": ("Prêt locatif social", Decimal("0.60")),
    "housing_renovation": ("Éco-prêt", Decimal("0.25")),
    "town_centres": ("Prêt Renouvellement urbain", Decimal("0.60")),
}
DEFAULT_LOAN_PRODUCT = ("Prêt au secteur public local", Decimal("0.60"))
# The Livret A rate (%) from each date: the base of the bank's public-sector loans.
LIVRET_A = (
    (date(2019, 1, 1), Decimal("0.75")),
    (date(2020, 2, 1), Decimal("0.50")),
    (date(2022, 2, 1), Decimal("1.00")),
    (date(2022, 8, 1), Decimal("2.00")),
    (date(2023, 2, 1), Decimal("3.00")),
    (date(2025, 2, 1), Decimal("2.40")),
    (date(2025, 8, 1), Decimal("1.70")),
)
PROGRAMME_THEMES: dict[str, tuple[str, ...]] = {
    "action_coeur_de_ville": (
        "town_centres",
        "housing_renovation",
        "mobility",
        "economic_development",
        "culture_sport",
    ),
    "petites_villes_de_demain": (
        "town_centres",
        "health",
        "housing_renovation",
        "tourism",
        "digital",
    ),
    "territoires_d_industrie": ("economic_development", "brownfields", "energy_transition"),
}
LEVEL_THEMES: dict[TerritoryLevel, tuple[str, ...]] = {
    TerritoryLevel.REGION: (
        "education",
        "mobility",
        "energy_transition",
        "economic_development",
        "digital",
    ),
    TerritoryLevel.DEPARTEMENT: (
        "education",
        "digital",
        "health",
        "social_housing",
        "mobility",
        "culture_sport",
    ),
    TerritoryLevel.EPCI: (
        "economic_development",
        "mobility",
        "energy_transition",
        "brownfields",
        "tourism",
        "culture_sport",
        "digital",
        "smart_city",
        "social_housing",
        "health",
    ),
    TerritoryLevel.COMMUNE: (
        "town_centres",
        "education",
        "culture_sport",
        "social_housing",
        "health",
        "energy_transition",
        "housing_renovation",
        "smart_city",
        "tourism",
        "economic_development",
        "mobility",
        "brownfields",
    ),
}
# Who decides to give a project up, at each level.
COUNCILS: dict[TerritoryLevel, str] = {
    TerritoryLevel.REGION: "conseil régional",
    TerritoryLevel.DEPARTEMENT: "conseil départemental",
    TerritoryLevel.EPCI: "conseil communautaire",
    TerritoryLevel.COMMUNE: "conseil municipal",
}
# (instruments, weight): what a project receives, in the order the money comes.
PATTERNS: tuple[tuple[tuple[Instrument, ...], int], ...] = (
    ((Instrument.STUDY,), 26),
    ((Instrument.LOAN,), 28),
    ((Instrument.STUDY, Instrument.LOAN), 18),
    ((Instrument.EQUITY,), 12),
    ((Instrument.STUDY, Instrument.EQUITY), 6),
    ((Instrument.LOAN, Instrument.LOAN), 7),
    ((Instrument.LOAN, Instrument.EQUITY), 3),
)


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
    for done, step in enumerate(steps, start=1):
        step.run(ledger)
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total)
    return DemoSummary(
        projects=plan.projects,
        conventions=plan.conventions,
        commitments=plan.commitments,
        events=ledger.head_position() - before,
        loaded=True,
    )


def demo_id(kind: str, key: str | int) -> UUID:
    """Return the demo's deterministic id for a project, convention or commitment."""
    return uuid5(NAMESPACE, f"{kind}:{key}")


BASSIN_MINIER_CONVENTION_ID = demo_id("convention", "bassin-minier")


# Planning -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """One command to run, at its effective date; `seq` keeps a story's order on equal dates."""

    on: date
    seq: int
    run: Callable[[Ledger], Written]


@dataclass(slots=True)
class _Project:
    id: UUID
    directorate: str
    territory: Territory
    theme: str
    identified_on: date
    last: date
    estimated_cost: int | None = None
    open: bool = True
    commitments: list[_Commitment] = field(default_factory=list)


@dataclass(slots=True)
class _Commitment:
    id: UUID
    project: _Project
    instrument: Instrument
    amount: int  # cents
    on: date
    last: date
    years: int = 0
    disbursed: int = 0
    repaid: int = 0
    cancelled: int = 0
    delivered_on: date | None = None

    @property
    def to_disburse(self) -> int:
        return self.amount - self.cancelled - self.disbursed


@dataclass
class DemoPlan:
    """The demo's commands (in planning order) and what they create."""

    steps: list[_Step] = field(default_factory=list)
    projects: int = 0
    conventions: int = 0
    commitments: int = 0


def plan_demo() -> DemoPlan:
    """Plan every command of the demo: the same plan on every call."""
    planner = _Planner()
    planner.bassin_minier()
    planner.fessenheim()
    planner.marseille()
    for code, count in NATIONAL_PROJECTS.items():
        for _ in range(count):
            planner.national_project(code)
    planner.ensure_territory_move()
    return planner.plan


class _Planner:
    """Writes the demo's stories as commands, keeping every amount and date valid."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
        self.territories: Territories = load_territories()
        self.plan = DemoPlan()
        self.references: dict[str, int] = {}
        self.pools = _pools(self.territories)
        self.moves = 0
        self.movable: list[_Project] = []

    # Commands ---------------------------------------------------------------------------------

    def _add(self, on: date, run: Callable[[Ledger], Written]) -> None:
        self.plan.steps.append(_Step(on, len(self.plan.steps), run))

    def _actor(self, directorate: str) -> Actor:
        # One correlation id per command, derived from its place in the plan.
        correlation = demo_id("correlation", len(self.plan.steps)).hex
        return Actor(name=ACTOR_NAME, directorate=directorate, correlation_id=correlation)

    def sign_convention(
        self,
        key: str,
        *,
        title: str,
        directorate: str,
        signatories: list[str],
        themes: list[str],
        signed_on: date,
        ends_on: date,
        envelope: int,
    ) -> UUID:
        convention_id = demo_id("convention", key)
        self._add(
            signed_on,
            partial(
                Ledger.sign_convention,
                actor=self._actor(directorate),
                title=title,
                directorate=directorate,
                signatories=signatories,
                themes=themes,
                signed_on=signed_on,
                ends_on=ends_on,
                envelope=_eur(envelope),
                convention_id=convention_id,
            ),
        )
        self.plan.conventions += 1
        return convention_id

    def identify(
        self,
        directorate: str,
        territory: Territory,
        *,
        name: str,
        theme: str,
        on: date,
        programme: str | None = None,
        estimated_cost: int | None = None,
    ) -> _Project:
        number = self.plan.projects + 1
        project = _Project(
            demo_id("project", number), directorate, territory, theme, on, on, estimated_cost
        )
        serial = self.references[directorate] = self.references.get(directorate, 0) + 1
        self._add(
            on,
            partial(
                Ledger.identify_project,
                actor=self._actor(directorate),
                name=name,
                territory=territory.code,
                theme=theme,
                directorate=directorate,
                identified_on=on,
                programme=programme,
                estimated_cost=None if estimated_cost is None else _eur(estimated_cost),
                reference=f"{REFERENCE_PREFIX[directorate]}-{on.year}-{serial:04d}",
                project_id=project.id,
            ),
        )
        self.plan.projects += 1
        return project

    def link(self, project: _Project, convention_id: UUID, signed_on: date) -> None:
        on = max(project.identified_on, signed_on)
        self._add(
            on,
            partial(
                Ledger.link_project_to_convention,
                actor=self._actor(project.directorate),
                convention_id=convention_id,
                project_id=project.id,
            ),
        )
        project.last = max(project.last, on)

    def _commitment(
        self, project: _Project, instrument: Instrument, amount: int, on: date
    ) -> _Commitment:
        self.plan.commitments += 1
        commitment = _Commitment(
            demo_id("commitment", self.plan.commitments), project, instrument, amount, on, on
        )
        project.commitments.append(commitment)
        project.last = max(project.last, on)
        return commitment

    def loan(
        self, project: _Project, on: date, amount: int, *, years: int | None = None
    ) -> _Commitment:
        commitment = self._commitment(project, Instrument.LOAN, amount, on)
        commitment.years = years or self.rng.choice((15, 20, 25, 30, 40))
        product, margin = LOAN_PRODUCTS.get(project.theme, DEFAULT_LOAN_PRODUCT)
        self._add(
            on,
            partial(
                Ledger.grant_loan,
                actor=self._actor(project.directorate),
                project_id=project.id,
                amount=_eur(amount),
                granted_on=on,
                duration_months=commitment.years * 12,
                rate=_livret_a(on) + margin,
                product=product,
                commitment_id=commitment.id,
            ),
        )
        return commitment

    def equity(
        self, project: _Project, on: date, amount: int, *, stake: Decimal, vehicle: str
    ) -> _Commitment:
        commitment = self._commitment(project, Instrument.EQUITY, amount, on)
        self._add(
            on,
            partial(
                Ledger.invest_equity,
                actor=self._actor(project.directorate),
                project_id=project.id,
                amount=_eur(amount),
                invested_on=on,
                stake_percent=stake,
                vehicle=vehicle,
                commitment_id=commitment.id,
            ),
        )
        return commitment

    def study(
        self, project: _Project, on: date, amount: int, *, subject: str, provider: str
    ) -> _Commitment:
        commitment = self._commitment(project, Instrument.STUDY, amount, on)
        self._add(
            on,
            partial(
                Ledger.launch_study,
                actor=self._actor(project.directorate),
                project_id=project.id,
                amount=_eur(amount),
                launched_on=on,
                subject=subject,
                provider=provider,
                commitment_id=commitment.id,
            ),
        )
        return commitment

    def deliver(self, commitment: _Commitment, on: date) -> None:
        project = commitment.project
        self._add(
            on,
            partial(
                Ledger.deliver_study,
                actor=self._actor(project.directorate),
                project_id=project.id,
                commitment_id=commitment.id,
                delivered_on=on,
            ),
        )
        commitment.delivered_on = on
        self._touch(commitment, on)

    def disburse(self, commitment: _Commitment, on: date, amount: int) -> None:
        project = commitment.project
        self._add(
            on,
            partial(
                Ledger.disburse,
                actor=self._actor(project.directorate),
                project_id=project.id,
                commitment_id=commitment.id,
                amount=_eur(amount),
                disbursed_on=on,
            ),
        )
        commitment.disbursed += amount
        self._touch(commitment, on)

    def repay(self, commitment: _Commitment, on: date, principal: int) -> None:
        project = commitment.project
        self._add(
            on,
            partial(
                Ledger.record_repayment,
                actor=self._actor(project.directorate),
                project_id=project.id,
                commitment_id=commitment.id,
                principal=_eur(principal),
                repaid_on=on,
            ),
        )
        commitment.repaid += principal
        self._touch(commitment, on)

    def cancel(self, commitment: _Commitment, on: date, amount: int, reason: str) -> None:
        project = commitment.project
        self._add(
            on,
            partial(
                Ledger.cancel_commitment,
                actor=self._actor(project.directorate),
                project_id=project.id,
                commitment_id=commitment.id,
                amount=_eur(amount),
                cancelled_on=on,
                reason=reason,
            ),
        )
        commitment.cancelled += amount
        self._touch(commitment, on)

    def correct_amount(self, commitment: _Commitment, amount: int, reason: str) -> None:
        project = commitment.project
        # A recording error fixed the day it was made, before any money moved.
        self._add(
            commitment.on,
            partial(
                Ledger.correct_commitment_amount,
                actor=self._actor(project.directorate),
                project_id=project.id,
                commitment_id=commitment.id,
                amount=_eur(amount),
                reason=reason,
            ),
        )
        commitment.amount = amount

    def correct_project(self, project: _Project, on: date, reason: str, **changes: Any) -> None:
        self._add(
            on,
            partial(
                Ledger.correct_project,
                actor=self._actor(project.directorate),
                project_id=project.id,
                reason=reason,
                **changes,
            ),
        )
        project.last = max(project.last, on)

    def set_indicator(
        self, project: _Project, on: date, *, indicator: str, unit: str, target: int, due_on: date
    ) -> None:
        self._add(
            on,
            partial(
                Ledger.set_indicator,
                actor=self._actor(project.directorate),
                project_id=project.id,
                indicator=indicator,
                unit=unit,
                target=target,
                due_on=due_on,
                baseline=0,
            ),
        )
        project.last = max(project.last, on)

    def measure(self, project: _Project, on: date, *, indicator: str, value: int) -> None:
        self._add(
            on,
            partial(
                Ledger.measure,
                actor=self._actor(project.directorate),
                project_id=project.id,
                indicator=indicator,
                value=value,
                measured_on=on,
            ),
        )
        project.last = max(project.last, on)

    def complete(self, project: _Project, on: date, reason: str) -> None:
        self._add(
            on,
            partial(
                Ledger.complete_project,
                actor=self._actor(project.directorate),
                project_id=project.id,
                on=on,
                reason=reason,
            ),
        )
        project.open = False
        project.last = on

    def abandon(self, project: _Project, on: date, reason: str) -> None:
        self._add(
            on,
            partial(
                Ledger.abandon_project,
                actor=self._actor(project.directorate),
                project_id=project.id,
                on=on,
                reason=reason,
            ),
        )
        project.open = False
        project.last = on

    @staticmethod
    def _touch(commitment: _Commitment, on: date) -> None:
        commitment.last = max(commitment.last, on)
        commitment.project.last = max(commitment.project.last, on)

    # Money flows --------------------------------------------------------------------------------

    def pay_out(self, commitment: _Commitment, share: float, tranches: int) -> None:
        """Disburse a share of what is left, in tranches a few months apart, up to LAST_DAY."""
        if commitment.to_disburse <= 0:
            return
        target = min(_round_cents(commitment.to_disburse * share, 100), commitment.to_disburse)
        on = commitment.last
        for amount in _split(self.rng, target, tranches):
            on = _after(self.rng, on, 45, 330)
            if on > LAST_DAY:
                return
            if amount > 0:
                self.disburse(commitment, on, amount)

    def amortise(self, commitment: _Commitment) -> None:
        """Repay a loan's principal once a year after a deferral, while money is outstanding."""
        yearly = _round_cents(commitment.amount / commitment.years, 100)
        on = _after(self.rng, commitment.last, 300, 540)
        while on <= LAST_DAY and commitment.disbursed > commitment.repaid:
            self.repay(commitment, on, min(yearly, commitment.disbursed - commitment.repaid))
            on += timedelta(days=365)

    def money_story(self, commitment: _Commitment) -> None:
        """Move money under a fresh commitment as such a commitment usually lives."""
        rng = self.rng
        if commitment.instrument is Instrument.STUDY:
            self.pay_out(commitment, 0.3, 1)
            delivery = _after(rng, commitment.last, 90, 420)
            if delivery <= LAST_DAY and rng.random() < 0.75:
                self.deliver(commitment, delivery)
                self.pay_out(commitment, 1.0, 1)
            elif commitment.to_disburse > 0 and rng.random() < 0.15:
                self.cancel(
                    commitment,
                    _after(rng, commitment.last, 30, 200, cap=True),
                    commitment.to_disburse,
                    "Étude arrêtée : le maître d'ouvrage a réorienté son projet",
                )
            return
        if commitment.instrument is Instrument.LOAN:
            self.pay_out(commitment, rng.choice((1.0, 1.0, 0.9, 0.75)), rng.randint(1, 4))
            if commitment.disbursed and rng.random() < 0.85:
                self.amortise(commitment)
        else:
            self.pay_out(commitment, rng.choice((1.0, 1.0, 0.6)), rng.randint(1, 3))
        if commitment.to_disburse > 0 and commitment.disbursed and rng.random() < 0.15:
            self.cancel(
                commitment,
                _after(rng, commitment.last, 20, 180, cap=True),
                commitment.to_disburse,
                "Solde non consommé à la clôture des travaux",
            )

    def commit(self, project: _Project, instrument: Instrument, on: date) -> _Commitment:
        """Commit money of a plausible size for the project's territory, sometimes mistyped."""
        rng = self.rng
        scale = _scale(project.territory)
        if instrument is Instrument.STUDY:
            amount = _round_cents(_log_uniform(rng, 20_000, 300_000) * 100, 1_000)
            commitment = self.study(
                project,
                on,
                amount,
                subject=rng.choice(STUDY_SUBJECTS),
                provider=rng.choice(STUDY_PROVIDERS),
            )
        elif instrument is Instrument.LOAN:
            low, high = (500_000, 4_000_000 * scale)
            amount = _round_cents(_log_uniform(rng, low, min(high, 40_000_000)) * 100, 100_000)
            commitment = self.loan(project, on, amount)
        else:
            high = min(1_500_000 * scale, 10_000_000)
            amount = _round_cents(_log_uniform(rng, 300_000, high) * 100, 1_000_000)
            commitment = self.equity(
                project,
                on,
                amount,
                stake=Decimal(rng.randint(100, 490)) / 10,
                vehicle=rng.choice(EQUITY_VEHICLES),
            )
        if rng.random() < 0.06:
            # The amount was typed wrong: the recorded figure is put right the same day.
            typed = commitment.amount
            if instrument is Instrument.STUDY:
                right, reason = typed * 1.2, "Montant saisi hors taxes au lieu de TTC"
            else:
                right, reason = typed * rng.choice((0.9, 0.95, 1.05, 1.1)), "Erreur de saisie"
            self.correct_amount(commitment, _round_cents(right, 100), reason)
        return commitment

    # Stories -------------------------------------------------------------------------------

    def funded_project(
        self,
        project: _Project,
        instruments: Sequence[Instrument],
        *,
        may_close: bool = True,
    ) -> None:
        """Commit each instrument in turn after the project's identification, then move money."""
        rng = self.rng
        on = project.identified_on
        for instrument in instruments:
            on = _after(rng, on, 20, 300 if instrument is Instrument.STUDY else 480)
            if on > LAST_DAY:
                break
            commitment = self.commit(project, instrument, on)
            self.money_story(commitment)
            on = commitment.delivered_on or on
        if may_close:
            self.maybe_close(project)

    def maybe_close(self, project: _Project) -> None:
        """Abandon a few projects, complete those whose money has all moved."""
        rng = self.rng
        draw = rng.random()
        if draw < 0.05 and project.commitments:
            on = _after(rng, project.last, 30, 240, cap=True)
            for commitment in project.commitments:
                if commitment.to_disburse > 0:
                    self.cancel(
                        commitment,
                        on,
                        commitment.to_disburse,
                        "Projet abandonné par la collectivité",
                    )
            council = COUNCILS[project.territory.level]
            self.abandon(project, on, f"Le {council} a renoncé au projet")
            return
        settled = all(
            c.to_disburse == 0 and (c.instrument is not Instrument.STUDY or c.delivered_on)
            for c in project.commitments
        )
        if project.commitments and settled and draw < 0.35:
            on = _after(rng, project.last, 30, 365)
            if on <= LAST_DAY:
                self.complete(project, on, "Opération réceptionnée")

    def national_project(self, directorate: str) -> None:
        """Identify a project in the directorate's regions and fund it."""
        rng = self.rng
        territory = self.pick_territory(directorate)
        programme = _programme(rng, territory)
        theme = rng.choice(
            PROGRAMME_THEMES[programme] if programme else LEVEL_THEMES[territory.level]
        )
        instruments = _pattern(rng, theme)
        on = _random_day(rng, FIRST_DAY, date(2025, 6, 30))
        project = self.identify(
            directorate,
            territory,
            name=_project_name(rng, theme, territory),
            theme=theme,
            on=on,
            programme=programme,
            estimated_cost=_estimated_cost(rng, instruments, territory),
        )
        self.maybe_correct(project, programme)
        self.maybe_indicator(project)
        self.funded_project(project, instruments)

    def maybe_correct(self, project: _Project, programme: str | None) -> None:
        """Correct a few projects' details: a move, a cost, a theme, a programme, a name."""
        rng = self.rng
        if rng.random() >= 0.1:
            return
        on = _after(rng, project.identified_on, 5, 90)
        kind = rng.choice(("move", "cost", "theme", "programme", "name"))
        territory = project.territory
        if kind == "move" and territory.level is TerritoryLevel.COMMUNE:
            owner = territory.at_level(TerritoryLevel.EPCI)
            if owner is not None and _in_directorate(self.territories, owner, project):
                self.correct_project(
                    project,
                    on,
                    "Le projet est porté par l'intercommunalité, non par la commune",
                    territory=owner,
                )
                self.moves += 1
                return
        if kind == "cost":
            base = project.estimated_cost or _estimated_cost(rng, (Instrument.LOAN,), territory)
            project.estimated_cost = _round_cents((base or 0) * rng.uniform(1.05, 1.35), 100_000)
            self.correct_project(
                project,
                on,
                "Coût prévisionnel actualisé après les études",
                estimated_cost=_eur(project.estimated_cost),
            )
        elif kind == "programme" and programme is not None:
            self.correct_project(
                project, on, "Projet hors convention de programme", cleared=("programme",)
            )
        elif kind == "theme" and project.theme != "economic_development":
            project.theme = "economic_development"
            self.correct_project(project, on, "Thématique mal saisie", theme=project.theme)
        else:
            self.correct_project(
                project,
                on,
                "Intitulé précisé",
                name=f"{_project_name(rng, project.theme, territory)} (tranche 1)",
            )
        if territory.level is TerritoryLevel.COMMUNE:
            self.movable.append(project)

    def maybe_indicator(self, project: _Project) -> None:
        """Give some housing and energy projects an impact indicator with measures."""
        rng = self.rng
        indicators = {
            "social_housing": ("homes_built", "logements", 20, 400),
            "housing_renovation": ("homes_renovated", "logements", 20, 600),
            "energy_transition": ("co2_avoided", "tCO2e/an", 200, 20_000),
        }
        if project.theme not in indicators or rng.random() >= 0.35:
            return
        indicator, unit, low, high = indicators[project.theme]
        target = rng.randint(low, high)
        on = _after(rng, project.identified_on, 10, 120, cap=True)
        due = date(rng.randint(2026, 2030), 12, 31)
        self.set_indicator(project, on, indicator=indicator, unit=unit, target=target, due_on=due)
        measured = target
        when = on
        for _ in range(rng.randint(0, 3)):
            when = _after(rng, when, 180, 400)
            if when > LAST_DAY:
                break
            measured = rng.randint(0, measured)
            self.measure(project, when, indicator=indicator, value=target - measured)

    def ensure_territory_move(self) -> None:
        """Move one project to another commune of its directorate: the commune was mistyped."""
        for project in self.movable:
            others = [
                t
                for t in self.pools[project.directorate][TerritoryLevel.COMMUNE]
                if t.code != project.territory.code
            ]
            if others:
                target = self.rng.choice(others)
                self.correct_project(
                    project,
                    _after(self.rng, project.identified_on, 3, 30),
                    f"Commune mal saisie : le projet est situé à {target.name}",
                    territory=target.code,
                )
                self.moves += 1
                return

    def pick_territory(self, directorate: str) -> Territory:
        """Pick a territory of the directorate: mostly communes, of every size band."""
        rng = self.rng
        pools = self.pools[directorate]
        level = rng.choices(
            (
                TerritoryLevel.COMMUNE,
                TerritoryLevel.EPCI,
                TerritoryLevel.DEPARTEMENT,
                TerritoryLevel.REGION,
            ),
            weights=(55, 25, 12, 8),
        )[0]
        if not pools[level]:
            level = TerritoryLevel.COMMUNE
        candidates = pools[level]
        if level in (TerritoryLevel.COMMUNE, TerritoryLevel.EPCI):
            band = rng.choices((Band.RURAL_SMALL, Band.MEDIUM, Band.LARGE), weights=(5, 3, 2))[0]
            banded = [t for t in candidates if t.band is band]
            candidates = banded or candidates
        return rng.choice(candidates)

    # The Bassin minier -------------------------------------------------------------------------

    def bassin_minier(self) -> None:
        """The Bassin minier convention, its three flagship projects and 56 more."""
        rng = self.rng
        directorate = "hauts_de_france"
        signed_on = date(2019, 3, 12)
        convention = self.sign_convention(
            "bassin-minier",
            title="Engagement pour le renouveau du Bassin minier du Nord et du Pas-de-Calais",
            directorate=directorate,
            signatories=[*BASSIN_MINIER_EPCI, "departement:59", "departement:62"],
            themes=list(BASSIN_MINIER_THEMES),
            signed_on=signed_on,
            ends_on=date(2027, 12, 31),
            envelope=200_000_000_00,
        )
        get = self.territories.get

        bhns = self.identify(
            directorate,
            get(LENS_LIEVIN),
            name="Bulles : bus à haut niveau de service du réseau Artois-Gohelle",
            theme="mobility",
            on=date(2019, 3, 20),
            estimated_cost=152_000_000_00,
        )
        self.link(bhns, convention, signed_on)
        loan = self.loan(bhns, date(2019, 7, 9), 35_000_000_00, years=40)
        for on, amount in (
            (date(2019, 10, 15), 10_000_000_00),
            (date(2020, 6, 30), 12_500_000_00),
            (date(2021, 3, 31), 12_500_000_00),
        ):
            self.disburse(loan, on, amount)
        for year in range(2022, 2026):
            self.repay(loan, date(year, 7, 9), 875_000_00)

        mine = self.identify(
            directorate,
            get(WALLERS),
            name="CréativeMine : pôle des industries créatives sur le site minier d'Arenberg",
            theme="tourism",
            on=date(2019, 5, 14),
            estimated_cost=29_000_000_00,
        )
        self.link(mine, convention, signed_on)
        study = self.study(
            mine,
            date(2019, 9, 2),
            85_000_00,
            subject="Étude de programmation et de modèle économique",
            provider="Atelier Ville & Territoires",
        )
        self.disburse(study, date(2019, 10, 1), 25_500_00)
        self.deliver(study, date(2020, 4, 30))
        self.disburse(study, date(2020, 5, 20), 59_500_00)
        stake = self.equity(
            mine,
            date(2020, 11, 17),
            1_400_000_00,
            stake=Decimal("24.5"),
            vehicle="SAS CréativeMine Arenberg",
        )
        self.disburse(stake, date(2021, 1, 15), 700_000_00)
        self.disburse(stake, date(2022, 2, 10), 700_000_00)

        housing = self.identify(
            directorate,
            get(BETHUNE_BRUAY),
            name="Rénovation des cités minières du Bassin minier",
            theme="housing_renovation",
            on=date(2019, 4, 2),
            estimated_cost=1_000_000_000_00,
        )
        self.link(housing, convention, signed_on)
        self.set_indicator(
            housing,
            date(2019, 6, 3),
            indicator="homes_renovated",
            unit="logements",
            target=20_000,
            due_on=date(2027, 12, 31),
        )
        for on, value in ((date(2021, 12, 31), 4_120), (date(2023, 12, 31), 9_870)):
            self.measure(housing, on, indicator="homes_renovated", value=value)
        first = self.loan(housing, date(2019, 9, 24), 40_000_000_00, years=40)
        second = self.loan(housing, date(2022, 3, 15), 38_500_000_00, years=40)
        for commitment in (first, second):
            self.pay_out(commitment, 1.0, 4)
            self.amortise(commitment)
        self.measure(housing, date(2025, 6, 30), indicator="homes_renovated", value=13_450)

        # The other 56: seven per intercommunalité, about half with a study, some with loans.
        studies = 0
        for index in range(BASSIN_MINIER_PROJECTS - 3):
            epci = get(BASSIN_MINIER_EPCI[index % len(BASSIN_MINIER_EPCI)])
            territory = epci
            if rng.random() < 0.8:
                communes = self.territories.children(epci.code)
                territory = rng.choices(communes, weights=[c.population or 1 for c in communes])[0]
            programme = _programme(rng, territory)
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
                instruments = _pattern(rng, theme)
                if Instrument.STUDY in instruments:
                    instruments = tuple(i for i in instruments if i is not Instrument.STUDY)
                instruments = instruments or (Instrument.LOAN,)
            name = _project_name(rng, theme, territory)
            if theme in BASSIN_MINIER_NAMES and rng.random() < 0.6:
                name = _named_after(rng.choice(BASSIN_MINIER_NAMES[theme]), territory)
            project = self.identify(
                directorate,
                territory,
                name=name,
                theme=theme,
                on=_random_day(rng, signed_on, date(2024, 12, 31)),
                programme=programme,
                estimated_cost=_estimated_cost(rng, instruments, territory),
            )
            self.link(project, convention, signed_on)
            self.funded_project(project, instruments)

    def fessenheim(self) -> None:
        """The Fessenheim territory convention: the power plant's closure and what follows."""
        rng = self.rng
        directorate = "grand_est"
        signed_on = date(2019, 2, 1)
        epci = self.territories.get("epci:200066025")
        convention = self.sign_convention(
            "fessenheim",
            title="Projet d'avenir du territoire de Fessenheim",
            directorate=directorate,
            signatories=[epci.code, "departement:68", "region:44"],
            themes=["energy_transition", "economic_development", "mobility", "brownfields"],
            signed_on=signed_on,
            ends_on=date(2029, 12, 31),
            envelope=40_000_000_00,
        )
        communes = self.territories.children(epci.code)
        for theme, instruments in (
            ("energy_transition", (Instrument.STUDY, Instrument.EQUITY)),
            ("economic_development", (Instrument.STUDY, Instrument.LOAN)),
            ("brownfields", (Instrument.STUDY,)),
            ("mobility", (Instrument.LOAN,)),
        ):
            territory = rng.choice([epci, *communes[:6]])
            project = self.identify(
                directorate,
                territory,
                name=_project_name(rng, theme, territory),
                theme=theme,
                on=_random_day(rng, signed_on, date(2022, 12, 31)),
                programme="territoires_d_industrie" if territory is epci else None,
                estimated_cost=_estimated_cost(rng, instruments, territory),
            )
            self.link(project, convention, signed_on)
            self.funded_project(project, instruments, may_close=False)

    def marseille(self) -> None:
        """The Marseille en Grand partnership: schools and transport in the city."""
        rng = self.rng
        directorate = "provence_alpes_cote_d_azur"
        signed_on = date(2021, 11, 25)
        city = self.territories.get("commune:13055")
        convention = self.sign_convention(
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
            project = self.identify(
                directorate,
                city,
                name=_project_name(rng, theme, city),
                theme=theme,
                on=_random_day(rng, signed_on, date(2023, 12, 31)),
                estimated_cost=_estimated_cost(rng, instruments, city),
            )
            self.link(project, convention, signed_on)
            self.funded_project(project, instruments, may_close=False)


# Helpers ----------------------------------------------------------------------------------------


def _pools(territories: Territories) -> dict[str, dict[TerritoryLevel, list[Territory]]]:
    """Group the inhabited territories by directorate and level."""
    directorate_of = {region: d.code for d in DIRECTORATES.values() for region in d.regions}
    pools: dict[str, dict[TerritoryLevel, list[Territory]]] = {
        code: {level: [] for level in TerritoryLevel} for code in DIRECTORATES
    }
    for territory in territories:
        if not territory.population:
            continue
        region = territory.at_level(TerritoryLevel.REGION)
        code = directorate_of.get(region or "")
        if code is not None:
            pools[code][territory.level].append(territory)
    for by_level in pools.values():
        for candidates in by_level.values():
            candidates.sort(key=lambda t: t.code)
    return pools


def _in_directorate(territories: Territories, code: str, project: _Project) -> bool:
    region = territories.get(code).at_level(TerritoryLevel.REGION)
    return region in DIRECTORATES[project.directorate].regions


def _programme(rng: random.Random, territory: Territory) -> str | None:
    """Return the national programme a territory of this size may belong to, sometimes."""
    draw = rng.random()
    if territory.level is TerritoryLevel.COMMUNE:
        if territory.band is Band.RURAL_SMALL and draw < 0.35:
            return "petites_villes_de_demain"
        if territory.band is Band.MEDIUM and draw < 0.45:
            return "action_coeur_de_ville"
    if territory.level is TerritoryLevel.EPCI and draw < 0.3:
        return "territoires_d_industrie"
    return None


def _pattern(rng: random.Random, theme: str) -> tuple[Instrument, ...]:
    """Return the instruments a project receives: no equity outside revenue-earning themes."""
    instruments = rng.choices([p for p, _ in PATTERNS], weights=[w for _, w in PATTERNS])[0]
    if theme not in EQUITY_THEMES:
        return tuple(Instrument.LOAN if i is Instrument.EQUITY else i for i in instruments)
    return instruments


def _scale(territory: Territory) -> int:
    """How much bigger than a small town's the projects of this territory tend to be."""
    if territory.level in (TerritoryLevel.REGION, TerritoryLevel.DEPARTEMENT):
        return 10
    return {Band.RURAL_SMALL: 1, Band.MEDIUM: 3, Band.LARGE: 10}.get(
        territory.band or Band.RURAL_SMALL, 1
    )


def _estimated_cost(
    rng: random.Random, instruments: Sequence[Instrument], territory: Territory
) -> int | None:
    """Return a plausible total cost in cents, or None when the project is not costed yet."""
    if instruments == (Instrument.STUDY,) and rng.random() < 0.4:
        return None
    scale = _scale(territory)
    # A project takes several funders: its cost stays well above the bank's commitments.
    funded = set(instruments) - {Instrument.STUDY}
    low, high = (3_000_000, 20_000_000) if funded else (500_000, 8_000_000)
    return _round_cents(_log_uniform(rng, low * scale, high * scale) * 100, 100_000)


def _project_name(rng: random.Random, theme: str, territory: Territory) -> str:
    local, wide = NAMES[theme]
    return _named_after(rng.choice(local if _is_commune(territory) else wide), territory)


def _is_commune(territory: Territory) -> bool:
    return territory.level is TerritoryLevel.COMMUNE


def _named_after(base: str, territory: Territory) -> str:
    """Return "Médiathèque d'Arras" for a commune, "Véloroute — CA du Douaisis" otherwise."""
    if _is_commune(territory):
        return f"{base} {_de(territory.name)}"
    return f"{base} — {territory.name}"


def _de(name: str) -> str:
    """Return "de <name>" with French elision and contraction: d'Arras, du Havre, des Abymes."""
    if name.startswith("Le "):
        return f"du {name[3:]}"
    if name.startswith("Les "):
        return f"des {name[4:]}"
    if name[:1] in "AEIOUYÉÈÊÎÔÂ":
        return f"d'{name}"
    return f"de {name}"


def _livret_a(on: date) -> Decimal:
    rate = LIVRET_A[0][1]
    for since, value in LIVRET_A:
        if since <= on:
            rate = value
    return rate


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(max(low, high))))


def _round_cents(cents: float, step: int) -> int:
    """Round an amount in cents to a multiple of `step` cents, at least one step."""
    return max(step, round(cents / step) * step)


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """Split cents into `parts` positive tranches that sum to `total` exactly."""
    if parts <= 1 or total < parts * 100:
        return [total]
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = sum(weights)
    tranches = [int(total * w / scale) // 100 * 100 for w in weights[:-1]]
    return [*tranches, total - sum(tranches)]


def _random_day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _after(rng: random.Random, start: date, low: int, high: int, *, cap: bool = False) -> date:
    """Return a day `low` to `high` days after `start`; with `cap`, no later than LAST_DAY."""
    on = start + timedelta(days=rng.randint(low, high))
    return max(start, min(on, LAST_DAY)) if cap else on


def _eur(cents: int) -> Decimal:
    """Return an amount in cents as euros with two decimals."""
    return Decimal(cents).scaleb(-2)
