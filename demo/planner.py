"""The demo's planner: how commitments, money, corrections and closures usually go."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from demo import draws
from demo.book import Book
from demo.planned import NAMESPACE, PlannedCommitment, PlannedProject
from demo.vocabulary import (
    COUNCILS,
    DEFAULT_LOAN_PRODUCT,
    EQUITY_VEHICLES,
    FIRST_DAY,
    LAST_DAY,
    LEVEL_THEMES,
    LOAN_PRODUCTS,
    PROGRAMME_THEMES,
    REFERENCE_PREFIX,
    STUDY_PROVIDERS,
    STUDY_SUBJECTS,
    livret_a,
    project_name,
)
from domain.reference import Instrument
from domain.reference.territories import (
    Band,
    Territories,
    Territory,
    TerritoryLevel,
    load_territories,
)

SEED = 2026


class Planner(Book):
    """Writes the demo's stories as commands, keeping every amount and date valid."""

    def __init__(
        self, seed: int | str = SEED, namespace: UUID = NAMESPACE, like: Planner | None = None
    ) -> None:
        """A planner drawing from `seed`, its ids from `namespace`; `like` lends its pools."""
        super().__init__(namespace=namespace, references=REFERENCE_PREFIX)
        self.rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
        self.territories: Territories = load_territories()
        self.pools: draws.Pools = like.pools if like else draws.pools(self.territories)
        self.movable: list[PlannedProject] = []
        # The territories of each directorate, level and band, as they are first asked for.
        self.banded: dict[tuple[str, TerritoryLevel, Band], list[Territory]] = (
            like.banded if like else {}
        )

    def lend(
        self, project: PlannedProject, on: date, amount: int, *, years: int | None = None
    ) -> PlannedCommitment:
        """Grant a loan of the theme's product at its rate on the day, over `years` or a draw."""
        years = years or self.rng.choice((15, 20, 25, 30, 40))
        product, margin = LOAN_PRODUCTS.get(project.theme, DEFAULT_LOAN_PRODUCT)
        return self.loan(
            project, on, amount, years=years, rate=livret_a(on) + margin, product=product
        )

    # Money flows --------------------------------------------------------------------------------

    def pay_out(self, commitment: PlannedCommitment, share: float, tranches: int) -> None:
        """Disburse a share of what is left, in tranches a few months apart, up to LAST_DAY."""
        if commitment.to_disburse <= 0:
            return
        target = min(draws.round_cents(commitment.to_disburse * share, 100), commitment.to_disburse)
        on = commitment.last
        for amount in draws.split(self.rng, target, tranches):
            on = draws.after(self.rng, on, 45, 330)
            if on > LAST_DAY:
                return
            if amount > 0:
                self.disburse(commitment, on, amount)

    def amortise(self, commitment: PlannedCommitment) -> None:
        """Repay a loan's principal once a year after a deferral, while money is outstanding."""
        yearly = draws.round_cents(commitment.amount / commitment.years, 100)
        on = draws.after(self.rng, commitment.last, 300, 540)
        while on <= LAST_DAY and commitment.disbursed > commitment.repaid:
            self.repay(commitment, on, min(yearly, commitment.disbursed - commitment.repaid))
            on += timedelta(days=365)

    def money_story(self, commitment: PlannedCommitment) -> None:
        """Move money under a fresh commitment as such a commitment usually lives."""
        rng = self.rng
        if commitment.instrument is Instrument.STUDY:
            self.pay_out(commitment, 0.3, 1)
            delivery = draws.after(rng, commitment.last, 90, 420)
            if delivery <= LAST_DAY and rng.random() < 0.75:
                self.deliver(commitment, delivery)
                self.pay_out(commitment, 1.0, 1)
            elif commitment.to_disburse > 0 and rng.random() < 0.15:
                self.cancel(
                    commitment,
                    draws.after(rng, commitment.last, 30, 200, cap=True),
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
                draws.after(rng, commitment.last, 20, 180, cap=True),
                commitment.to_disburse,
                "Solde non consommé à la clôture des travaux",
            )

    def commit(
        self, project: PlannedProject, instrument: Instrument, on: date
    ) -> PlannedCommitment:
        """Commit money of a plausible size for the project's territory, sometimes mistyped."""
        rng = self.rng
        scale = draws.scale(project.territory)
        if instrument is Instrument.STUDY:
            amount = draws.round_cents(draws.log_uniform(rng, 20_000, 300_000) * 100, 1_000)
            commitment = self.study(
                project,
                on,
                amount,
                subject=rng.choice(STUDY_SUBJECTS),
                provider=rng.choice(STUDY_PROVIDERS),
            )
        elif instrument is Instrument.LOAN:
            low, high = (500_000, 4_000_000 * scale)
            amount = draws.round_cents(
                draws.log_uniform(rng, low, min(high, 40_000_000)) * 100, 100_000
            )
            commitment = self.lend(project, on, amount)
        else:
            high = min(1_500_000 * scale, 10_000_000)
            amount = draws.round_cents(draws.log_uniform(rng, 300_000, high) * 100, 1_000_000)
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
            self.correct_amount(commitment, draws.round_cents(right, 100), reason)
        return commitment

    # Stories -------------------------------------------------------------------------------

    def funded_project(
        self,
        project: PlannedProject,
        instruments: Sequence[Instrument],
        *,
        may_close: bool = True,
    ) -> None:
        """Commit each instrument in turn after the project's identification, then move money."""
        rng = self.rng
        on = project.identified_on
        for instrument in instruments:
            on = draws.after(rng, on, 20, 300 if instrument is Instrument.STUDY else 480)
            if on > LAST_DAY:
                break
            commitment = self.commit(project, instrument, on)
            self.money_story(commitment)
            on = commitment.delivered_on or on
        if may_close:
            self.maybe_close(project)

    def maybe_close(self, project: PlannedProject) -> None:
        """Abandon a few projects, complete those whose money has all moved."""
        rng = self.rng
        draw = rng.random()
        if draw < 0.05 and project.commitments:
            on = draws.after(rng, project.last, 30, 240, cap=True)
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
            on = draws.after(rng, project.last, 30, 365)
            if on <= LAST_DAY:
                self.complete(project, on, "Opération réceptionnée")

    def national_project(self, directorate: str) -> None:
        """Identify a project in the directorate's regions and fund it."""
        rng = self.rng
        territory = self.pick_territory(directorate)
        programme = draws.programme(rng, territory)
        theme = rng.choice(
            PROGRAMME_THEMES[programme] if programme else LEVEL_THEMES[territory.level]
        )
        instruments = draws.pattern(rng, theme)
        on = draws.random_day(rng, FIRST_DAY, date(2025, 6, 30))
        project = self.identify(
            directorate,
            territory,
            name=project_name(rng, theme, territory),
            theme=theme,
            on=on,
            programme=programme,
            estimated_cost=draws.estimated_cost(rng, instruments, territory),
        )
        self.maybe_correct(project, programme)
        self.maybe_indicator(project)
        self.funded_project(project, instruments)

    def maybe_correct(self, project: PlannedProject, programme: str | None) -> None:
        """Correct a few projects' details: a move, a cost, a theme, a programme, a name."""
        rng = self.rng
        if rng.random() >= 0.1:
            return
        on = draws.after(rng, project.identified_on, 5, 90)
        kind = rng.choice(("move", "cost", "theme", "programme", "name"))
        territory = project.territory
        if kind == "move" and territory.level is TerritoryLevel.COMMUNE:
            owner = territory.at_level(TerritoryLevel.EPCI)
            if owner is not None and draws.in_directorate(
                self.territories, owner, project.directorate
            ):
                self.correct_project(
                    project,
                    on,
                    "Le projet est porté par l'intercommunalité, non par la commune",
                    territory=owner,
                )
                return
        if kind == "cost":
            base = project.estimated_cost or draws.estimated_cost(
                rng, (Instrument.LOAN,), territory
            )
            project.estimated_cost = draws.round_cents(
                (base or 0) * rng.uniform(1.05, 1.35), 100_000
            )
            self.correct_project(
                project,
                on,
                "Coût prévisionnel actualisé après les études",
                estimated_cost=project.estimated_cost,
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
                name=f"{project_name(rng, project.theme, territory)} (tranche 1)",
            )
        if territory.level is TerritoryLevel.COMMUNE:
            self.movable.append(project)

    def maybe_indicator(self, project: PlannedProject) -> None:
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
        on = draws.after(rng, project.identified_on, 10, 120, cap=True)
        due = date(rng.randint(2026, 2030), 12, 31)
        self.set_indicator(project, on, indicator=indicator, unit=unit, target=target, due=due)
        measured = target
        when = on
        for _ in range(rng.randint(0, 3)):
            when = draws.after(rng, when, 180, 400)
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
                    draws.after(self.rng, project.identified_on, 3, 30),
                    f"Commune mal saisie : le projet est situé à {target.name}",
                    territory=target.code,
                )
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
            key = (directorate, level, band)
            if key not in self.banded:
                self.banded[key] = [t for t in candidates if t.band is band] or candidates
            candidates = self.banded[key]
        return rng.choice(candidates)

    # The Bassin minier -------------------------------------------------------------------------
