"""Possible duplicates: a write that repeats a recent one field for field, caught before saving.

Without an idempotency key, the same loan posted twice is two loans. A money fact (a new
commitment, a disbursement, a repayment, a cancellation) that repeats, field for field, one
recorded on the same project in the last 24 hours is refused unless the caller confirms it.
Checked against the facts the project itself remembers (`Project.recent_facts`), so two
such writes at once conflict on the project's version and the second, retried, finds the
first. A new commitment's generated id
is not one of its fields here; a commitment voided since, or a movement reversed since, is
no longer a twin. (A new project repeating an open one's name: `api.duplicate_projects`.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import PossibleDuplicateError
from domain.outcomes import event_data, recorded_at
from domain.project import MONEY_FACTS, NEW_COMMITMENTS, RECENT, Project

# The names the answer gives each kind of fact.
KINDS: dict[type, str] = {
    Project.LoanGranted: "loan",
    Project.EquityInvested: "equity",
    Project.StudyLaunched: "study",
    Project.FundsDisbursed: "disbursement",
    Project.LoanRepaid: "repayment",
    Project.CommitmentCancelled: "cancellation",
}


def fields_of(event: object) -> tuple[type, tuple[tuple[str, Any], ...]] | None:
    """What makes two facts the same write: their kind and fields (None: not compared)."""
    if not isinstance(event, MONEY_FACTS):
        return None
    data = event_data(event)
    if isinstance(event, NEW_COMMITMENTS):
        data.pop("commitment_id")
    return type(event), tuple(sorted(data.items()))


def recent(stored_newest_first: Iterable[object], now: datetime) -> Iterator[object]:
    """The stored events of the last 24 hours, newest first."""
    for stored in stored_newest_first:
        if recorded_at(stored) < now - RECENT:
            return
        yield stored


def earlier_twin(
    project: Project, pending: Iterable[object], stored_newest_first: Iterable[object]
) -> tuple[object, object] | None:
    """The first pending fact that repeats one of the last 24 hours, with the latest it repeats.

    `stored_newest_first` may hold the pending facts themselves (a project remembers facts
    as they are applied): a fact is not its own twin. `project` is the project as the
    pending facts leave it: a twin whose commitment it has since voided, or whose movement it
    has since reversed, does not count.
    """
    facts = list(pending)
    wanted = {key: fact for fact in facts if (key := fields_of(fact)) is not None}
    if not wanted:
        return None
    for earlier in recent(stored_newest_first, now_of(facts)):
        key = fields_of(earlier)
        if key not in wanted or any(earlier is fact for fact in facts):
            continue
        if still_counts(project, earlier):
            return wanted[key], earlier
    return None


def still_counts(project: Project, stored: object) -> bool:
    """Whether a stored fact still stands: its commitment not voided, its movement not reversed.

    A movement stands when the commitment holds, besides the new one, a movement of that
    amount and date not reversed.
    """
    commitment_id: UUID = getattr(stored, "commitment_id")  # noqa: B009
    if commitment_id in project.voided:
        return False
    commitment = project.commitments.get(commitment_id)
    if commitment is None or not isinstance(stored, Project.FundsDisbursed | Project.LoanRepaid):
        return True
    if isinstance(stored, Project.FundsDisbursed):
        moves, amount, on = commitment.disbursements, stored.amount, stored.disbursed_on
    else:
        moves, amount, on = commitment.repayments, stored.principal, stored.repaid_on
    alike = sum(1 for m in moves if not m.reversed and m.amount == amount and m.on == on)
    return alike >= 2


def now_of(facts: Iterable[object]) -> datetime:
    """The time of the write: its facts' own timestamp."""
    return max(recorded_at(e) for e in facts)


def possible_duplicate(
    twin: tuple[object, object], project_id: UUID, position: int | None
) -> PossibleDuplicateError:
    """The refusal naming the earlier write (`position` None: earlier in the same batch)."""
    earlier = twin[1]
    kind = KINDS[type(earlier)]
    commitment_id = str(getattr(earlier, "commitment_id"))  # noqa: B009
    when = recorded_at(earlier)
    where = (
        f"earlier in this batch (commitment {commitment_id})"
        if position is None
        else f"on project {project_id} at {when.isoformat(timespec='seconds')} "
        f"(log position {position}, commitment {commitment_id})"
    )
    return PossibleDuplicateError(
        f"this {kind} repeats, field for field, the {kind} recorded {where}: if both are "
        "meant, send it again with ?confirm_duplicate=true",
        {
            "kind": kind,
            "project_id": str(project_id),
            "commitment_id": commitment_id,
            "position": position,
            "recorded_at": when.isoformat(),
        },
    )
