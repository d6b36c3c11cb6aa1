"""Projects read back from the log one at a time, with every movement of their money.

The exports need more than a project's state: each disbursement, repayment, cancellation
and correction as its own dated movement. A project's events are folded here once, giving
both its state (name, territory, status, commitments) and its movements, then let go:
memory holds one project at a time, whatever the size of the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, cast
from uuid import UUID

from eventsourcing.utils import resolve_topic

from domain.application import Ledger
from domain.project import Project
from domain.reference import Instrument

# Notifications read per query while looking for the projects in the log.
PAGE_SIZE = 1000

# Called with (log position reached, last position exported) as projects are read.
Progress = Callable[[int, int], None]


class MovementKind(StrEnum):
    """What a movement did to a commitment's figures."""

    COMMITTED = "committed"  # a loan granted, an equity investment made, a study launched
    CORRECTED = "corrected"  # the committed amount corrected: the difference, + or −
    CANCELLED = "cancelled"
    DISBURSED = "disbursed"
    REPAID = "repaid"


@dataclass(frozen=True, slots=True)
class Movement:
    """One money movement of a project, as its event recorded it.

    `amount` is the change to the figure its kind names: positive, except a correction
    that lowers the committed amount. `on` is the effective date; a correction counts at
    its commitment's own date, as in every total of the ledger.
    """

    kind: MovementKind
    commitment_id: UUID
    instrument: Instrument
    amount: Decimal
    on: date
    version: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectHistory:
    """A project as it stood at the exported position, and its movements in order."""

    project: Project
    movements: tuple[Movement, ...]
    position: int  # the log position of its identification


def project_histories(
    ledger: Ledger, *, up_to: int | None = None, progress: Progress | None = None
) -> Iterator[ProjectHistory]:
    """Yield every project identified in the log up to a position, in log order.

    `up_to` defaults to the head of the log when the iteration starts: events recorded
    later are left out, so every project is read as it stood at the same moment.
    """
    head = ledger.head_position() if up_to is None else up_to
    for position, project_id in _identifications(ledger, head):
        history = _history(ledger, project_id, position, head)
        if history is not None:
            yield history
        if progress is not None:
            progress(position, head)
    if progress is not None:
        progress(head, head)


def _identifications(ledger: Ledger, head: int) -> Iterator[tuple[int, UUID]]:
    """Yield (position, project id) of each project's first event up to `head`."""
    start = 1
    while start <= head:
        page = ledger.recorder.select_notifications(start=start, limit=PAGE_SIZE, stop=head)
        if not page:
            return
        for notification in page:
            if notification.originator_version == 1 and _identifies_a_project(notification.topic):
                yield notification.id, UUID(str(notification.originator_id))
        start = page[-1].id + 1


@cache
def _identifies_a_project(topic: str) -> bool:
    # Resolved rather than compared, so that a topic registered for a moved class still counts.
    return resolve_topic(topic) is Project.ProjectIdentified


def _history(ledger: Ledger, project_id: UUID, position: int, head: int) -> ProjectHistory | None:
    positions = ledger.positions.event_positions(project_id)
    versions = [version for version, at in positions.items() if at <= head]
    if not versions:
        return None
    project: Project | None = None
    movements: list[Movement] = []
    for event in ledger.events.get(project_id, lte=max(versions)):
        if project is not None:
            movement = _movement(project, event)
            if movement is not None:
                movements.append(movement)
        project = cast(Project, cast(Any, event).mutate(project))
    if project is None:
        return None
    return ProjectHistory(project, tuple(movements), position)


def _movement(project: Project, event: object) -> Movement | None:
    """The movement an event records, read against the project just before it."""
    version = cast(int, getattr(event, "originator_version"))  # noqa: B009
    if isinstance(event, Project.LoanGranted):
        return _committed(event, Instrument.LOAN, event.granted_on, version)
    if isinstance(event, Project.EquityInvested):
        return _committed(event, Instrument.EQUITY, event.invested_on, version)
    if isinstance(event, Project.StudyLaunched):
        return _committed(event, Instrument.STUDY, event.launched_on, version)
    if isinstance(event, Project.CommitmentAmountCorrected):
        before = project.commitments[event.commitment_id]
        return Movement(
            MovementKind.CORRECTED,
            event.commitment_id,
            before.instrument,
            event.amount - before.amount,
            before.committed_on,
            version,
            event.reason,
        )
    if isinstance(event, Project.CommitmentCancelled):
        instrument = project.commitments[event.commitment_id].instrument
        return Movement(
            MovementKind.CANCELLED,
            event.commitment_id,
            instrument,
            event.amount,
            event.cancelled_on,
            version,
            event.reason,
        )
    if isinstance(event, Project.FundsDisbursed):
        instrument = project.commitments[event.commitment_id].instrument
        return Movement(
            MovementKind.DISBURSED,
            event.commitment_id,
            instrument,
            event.amount,
            event.disbursed_on,
            version,
        )
    if isinstance(event, Project.LoanRepaid):
        return Movement(
            MovementKind.REPAID,
            event.commitment_id,
            Instrument.LOAN,
            event.principal,
            event.repaid_on,
            version,
        )
    return None


def _committed(
    event: Project.LoanGranted | Project.EquityInvested | Project.StudyLaunched,
    instrument: Instrument,
    on: date,
    version: int,
) -> Movement:
    return Movement(
        MovementKind.COMMITTED, event.commitment_id, instrument, event.amount, on, version
    )
