"""What the book plans: steps, and projects and commitments as their stories leave them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.commands import Command
from domain.reference import Instrument
from domain.reference.territories import Territory
from domain.values import Actor

NAMESPACE = uuid5(NAMESPACE_URL, "funding-tracker:demo")
ACTOR_NAME = "demo"


def demo_id(kind: str, key: str | int) -> UUID:
    """Return the demo's deterministic id for a project, convention or commitment."""
    return uuid5(NAMESPACE, f"{kind}:{key}")


def eur(cents: int) -> Decimal:
    """Return an amount in cents as euros with two decimals."""
    return Decimal(cents).scaleb(-2)


@dataclass(frozen=True, slots=True)
class Step:
    """One command to run at its effective date; `seq` keeps a story's order on equal dates."""

    on: date
    seq: int
    directorate: str
    command: Command

    @property
    def actor(self) -> Actor:
        """The demo writing for the directorate, with a correlation id per step."""
        correlation = demo_id("correlation", self.seq).hex
        return Actor(name=ACTOR_NAME, directorate=self.directorate, correlation_id=correlation)


@dataclass(slots=True)
class PlannedProject:
    """A project as its story leaves it; `last` is the date of its latest step."""

    id: UUID
    directorate: str
    territory: Territory
    theme: str
    identified_on: date
    last: date
    estimated_cost: int | None = None
    commitments: list[PlannedCommitment] = field(default_factory=list)


@dataclass(slots=True)
class PlannedCommitment:
    """A commitment as its story leaves it, in cents."""

    id: UUID
    project: PlannedProject
    instrument: Instrument
    amount: int
    on: date
    last: date
    years: int = 0
    disbursed: int = 0
    repaid: int = 0
    cancelled: int = 0
    delivered_on: date | None = None

    @property
    def to_disburse(self) -> int:
        """What is committed and not yet disbursed."""
        return self.amount - self.cancelled - self.disbursed
