"""Synthetic ledgers for benchmarks and load tests: deterministic valid commands, batched saves."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID, uuid5

from domain.application import Ledger
from domain.project import Project
from domain.reference import DIRECTORATES, PROGRAMMES, THEMES
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


def _project(rng: random.Random, n: int, pools: dict[str, list[Territory]]) -> Project:
    directorate = rng.choice(sorted(DIRECTORATES))
    place = rng.choice(pools[directorate])
    identified = date(2019, 1, 1) + timedelta(days=rng.randint(0, 5 * 365))
    project = Project.identify(
        project_id=uuid5(NAMESPACE, f"project:{n}"),
        name=f"Projet {n}",
        territory=place.code,
        theme=rng.choice(sorted(THEMES)),
        directorate=directorate,
        identified_on=identified,
        programme=rng.choice([None, *sorted(PROGRAMMES)]),
        estimated_cost=(Decimal(rng.randint(100_000, 50_000_000)) if rng.random() < 0.7 else None),
    )
    commitments = rng.randint(1, 4)
    for c in range(commitments):
        cid = uuid5(NAMESPACE, f"commitment:{n}:{c}")
        on = _day(rng, identified, 300)
        kind = rng.random()
        if kind < 0.5:
            amount = Decimal(rng.randint(500_000, 40_000_000))
            project.grant_loan(commitment_id=cid, amount=amount, granted_on=on, duration_months=240)
        elif kind < 0.65:
            amount = Decimal(rng.randint(300_000, 10_000_000))
            project.invest_equity(commitment_id=cid, amount=amount, invested_on=on)
        else:
            amount = Decimal(rng.randint(20_000, 300_000))
            project.launch_study(commitment_id=cid, amount=amount, launched_on=on, subject="Étude")
        left = amount
        when = on
        for _ in range(rng.randint(1, 4)):
            part = (left * Decimal(rng.randint(10, 40)) / 100).quantize(Decimal("0.01"))
            if part <= 0:
                break
            when = _day(rng, when, 200)
            project.disburse(commitment_id=cid, amount=part, disbursed_on=when)
            left -= part
        commitment = project.commitments[cid]
        if commitment.instrument == "loan" and commitment.disbursed > 0 and rng.random() < 0.5:
            project.record_repayment(
                commitment_id=cid,
                principal=(commitment.disbursed / 4).quantize(Decimal("0.01")),
                repaid_on=_day(rng, when, 365),
            )
        if rng.random() < 0.15 and commitment.to_disburse > 1:
            project.cancel_commitment(
                commitment_id=cid,
                amount=(commitment.to_disburse / 2).quantize(Decimal("0.01")),
                cancelled_on=_day(rng, when, 200),
                reason="Ajustement du plan de financement",
            )
        corrected = max(commitment.cancelled + commitment.disbursed, commitment.amount - 1000)
        if rng.random() < 0.05 and corrected != commitment.amount:
            project.correct_commitment_amount(
                commitment_id=cid, amount=corrected, reason="Erreur de saisie"
            )
    return project


def generate(
    ledger: Ledger, events: int, seed: int = 1, progress: Callable[[int], None] | None = None
) -> int:
    """Record about `events` events (never fewer); return how many were recorded."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    pools = _pools()
    recorded = 0
    n = 0
    while recorded < events:
        batch: list[Project] = []
        pending = 0
        while pending < EVENTS_PER_BATCH and recorded + pending < events:
            project = _project(rng, n, pools)
            n += 1
            batch.append(project)
            pending += project.version
        ledger.save(*batch)
        recorded += pending
        if progress is not None:
            progress(recorded)
    return recorded
