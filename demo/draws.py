"""The demo's random draws, and the arithmetic of its amounts (in cents) and dates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from random import Random

from demo.vocabulary import EQUITY_THEMES, LAST_DAY, PATTERNS
from domain.reference import DIRECTORATES, Instrument
from domain.reference.territories import Band, Territories, Territory, TerritoryLevel

Pools = dict[str, dict[TerritoryLevel, list[Territory]]]


def pools(territories: Territories) -> Pools:
    """Group the inhabited territories by directorate and level."""
    directorate_of = {region: d.code for d in DIRECTORATES.values() for region in d.regions}
    grouped: Pools = {code: {level: [] for level in TerritoryLevel} for code in DIRECTORATES}
    for territory in territories:
        if not territory.population:
            continue
        region = territory.at_level(TerritoryLevel.REGION)
        code = directorate_of.get(region or "")
        if code is not None:
            grouped[code][territory.level].append(territory)
    for by_level in grouped.values():
        for candidates in by_level.values():
            candidates.sort(key=lambda t: t.code)
    return grouped


def in_directorate(territories: Territories, code: str, directorate: str) -> bool:
    """Whether a territory lies in the directorate's regions."""
    region = territories.get(code).at_level(TerritoryLevel.REGION)
    return region in DIRECTORATES[directorate].regions


def programme(rng: Random, territory: Territory) -> str | None:
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


def pattern(rng: Random, theme: str) -> tuple[Instrument, ...]:
    """Return the instruments a project receives: no equity outside revenue-earning themes."""
    instruments = rng.choices([p for p, _ in PATTERNS], weights=[w for _, w in PATTERNS])[0]
    if theme not in EQUITY_THEMES:
        return tuple(Instrument.LOAN if i is Instrument.EQUITY else i for i in instruments)
    return instruments


def scale(territory: Territory) -> int:
    """How much bigger than a small town's the projects of this territory tend to be."""
    if territory.level in (TerritoryLevel.REGION, TerritoryLevel.DEPARTEMENT):
        return 10
    return {Band.RURAL_SMALL: 1, Band.MEDIUM: 3, Band.LARGE: 10}.get(
        territory.band or Band.RURAL_SMALL, 1
    )


def estimated_cost(
    rng: Random, instruments: Sequence[Instrument], territory: Territory
) -> int | None:
    """Return a plausible total cost in cents, or None when the project is not costed yet."""
    if instruments == (Instrument.STUDY,) and rng.random() < 0.4:
        return None
    times = scale(territory)
    # A project takes several funders: its cost stays well above the bank's commitments.
    funded = set(instruments) - {Instrument.STUDY}
    low, high = (3_000_000, 20_000_000) if funded else (500_000, 8_000_000)
    return round_cents(log_uniform(rng, low * times, high * times) * 100, 100_000)


def log_uniform(rng: Random, low: float, high: float) -> float:
    """A draw between `low` and `high`, uniform on a log scale."""
    return math.exp(rng.uniform(math.log(low), math.log(max(low, high))))


def round_cents(cents: float, step: int) -> int:
    """Round an amount in cents to a multiple of `step` cents, at least one step."""
    return max(step, round(cents / step) * step)


def split(rng: Random, total: int, parts: int) -> list[int]:
    """Split cents into `parts` positive tranches that sum to `total` exactly."""
    if parts <= 1 or total < parts * 100:
        return [total]
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    whole = sum(weights)
    tranches = [int(total * w / whole) // 100 * 100 for w in weights[:-1]]
    return [*tranches, total - sum(tranches)]


def random_day(rng: Random, first: date, last: date) -> date:
    """A day from `first` to `last`."""
    return first + timedelta(days=rng.randint(0, (last - first).days))


def after(rng: Random, start: date, low: int, high: int, *, cap: bool = False) -> date:
    """Return a day `low` to `high` days after `start`; with `cap`, no later than LAST_DAY."""
    on = start + timedelta(days=rng.randint(low, high))
    return max(start, min(on, LAST_DAY)) if cap else on
