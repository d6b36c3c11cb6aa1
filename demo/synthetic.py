"""Synthetic ledgers for benchmarks and load tests: deterministic valid commands, batched saves.

The commands are booked as the demo's are, then applied to the aggregates here and saved
thousands of events per transaction: the ledger's own path (one project per transaction,
commitment id claims) would make loading a million events far slower.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from fractions import Fraction
from uuid import UUID

from demo.book import Book
from domain.application import Ledger
from domain.commands import Command, IdentifyProject, ProjectCommand, Reads
from domain.project import Project
from domain.reference import DIRECTORATES, PROGRAMMES, THEMES, Instrument
from domain.reference.territories import Territory, TerritoryLevel, load_territories

NAMESPACE = UUID("6b7a3c1e-2f4d-4e5a-9b8c-0d1e2f3a4b5c")
EVENTS_PER_BATCH = 5000


def _pools() -> dict[str, list[Territory]]:
    by_region: dict[str, list[Territory]] = {}
    for t in load_territories():
        region = t.at_level(TerritoryLevel.REGION)
        if region is not None:
            by_region.setdefault(region, []).append(t)
    pools: dict[str, list[Territory]] = {}
    for code, directorate in DIRECTORATES.items():
        pools[code] = [t for r in sorted(directorate.regions) for t in by_region.get(r, [])]
    return pools


def _day(rng: random.Random, after: date, span: int = 700) -> date:
    return min(after + timedelta(days=rng.randint(0, span)), date(2025, 12, 31))


def _part(cents: int, numerator: int, denominator: int) -> int:
    """A fraction of an amount, rounded half to even to the cent."""
    return round(Fraction(cents * numerator, denominator))


def _book_project(
    book: Book, rng: random.Random, n: int, pools: dict[str, list[Territory]]
) -> None:
    """Book one project's commands: identified, then one to four commitments and their money."""
    directorate = rng.choice(sorted(DIRECTORATES))
    place = rng.choice(pools[directorate])
    identified = date(2019, 1, 1) + timedelta(days=rng.randint(0, 5 * 365))
    project = book.identify(
        directorate,
        place,
        name=f"Projet {n}",
        theme=rng.choice(sorted(THEMES)),
        on=identified,
        programme=rng.choice([None, *sorted(PROGRAMMES)]),
        estimated_cost=rng.randint(100_000, 50_000_000) * 100 if rng.random() < 0.7 else None,
    )
    for _ in range(rng.randint(1, 4)):
        on = _day(rng, identified, 300)
        kind = rng.random()
        if kind < 0.5:
            commitment = book.loan(project, on, rng.randint(500_000, 40_000_000) * 100, years=20)
        elif kind < 0.65:
            commitment = book.equity(project, on, rng.randint(300_000, 10_000_000) * 100)
        else:
            amount = rng.randint(20_000, 300_000) * 100
            commitment = book.study(project, on, amount, subject="Étude")
        left = commitment.amount
        when = on
        for _ in range(rng.randint(1, 4)):
            part = _part(left, rng.randint(10, 40), 100)
            if part <= 0:
                break
            when = _day(rng, when, 200)
            book.disburse(commitment, when, part)
            left -= part
        loan = commitment.instrument is Instrument.LOAN
        if loan and commitment.disbursed > 0 and rng.random() < 0.5:
            book.repay(commitment, _day(rng, when, 365), _part(commitment.disbursed, 1, 4))
        if rng.random() < 0.15 and commitment.to_disburse > 100:
            book.cancel(
                commitment,
                _day(rng, when, 200),
                _part(commitment.to_disburse, 1, 2),
                "Ajustement du plan de financement",
            )
        corrected = max(commitment.cancelled + commitment.disbursed, commitment.amount - 100_000)
        if rng.random() < 0.05 and corrected != commitment.amount:
            book.correct_amount(commitment, corrected, "Erreur de saisie")


def _aggregate(commands: Sequence[Command], reads: Reads) -> Project:
    """Run a project's commands on the aggregate, the first creating it."""
    project: Project | None = None
    for command in commands:
        if isinstance(command, IdentifyProject):
            project = command.create()
        elif isinstance(command, ProjectCommand) and project is not None:
            command.apply(project, reads)
        else:
            raise TypeError(f"{type(command).__name__} does not fit a synthetic project")
    if project is None:
        raise TypeError("a synthetic project starts with IdentifyProject")
    return project


def generate(
    ledger: Ledger, events: int, seed: int = 1, progress: Callable[[int], None] | None = None
) -> int:
    """Record about `events` events (never fewer); return how many were recorded."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    pools = _pools()
    book = Book(namespace=NAMESPACE)
    recorded = 0
    n = 0
    while recorded < events:
        batch: list[Project] = []
        pending = 0
        while pending < EVENTS_PER_BATCH and recorded + pending < events:
            _book_project(book, rng, n, pools)
            n += 1
            project = _aggregate([step.command for step in book.steps], ledger)
            book.steps.clear()
            batch.append(project)
            pending += project.version
        ledger.save(*batch)
        recorded += pending
        if progress is not None:
            progress(recorded)
    return recorded
