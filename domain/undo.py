"""Undoing an entry recorded in error, keeping it in history: the rules of `Project`.

`Project` mixes `UndoRules` in; the events and the `@event` methods that apply them stay in
`Project`'s own body, where the library finds them.

A voided commitment takes the money moved under it (disbursed, repaid, cancelled) with it:
a movement exists only under its commitment, so every figure is as if none of it had been
recorded, at every date. The commitment stays in the project's history (`Project.voided`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from domain.commitments import Commitment, Movement
from domain.errors import AmountExceedsError, BusinessRuleError, InvalidValueError, NotFoundError
from domain.values import ProjectStatus, effective_date, text


class _Project(Protocol):
    """What the rules use of the `Project` they are mixed into."""

    commitments: dict[UUID, Commitment]
    voided: dict[UUID, Commitment]
    status: ProjectStatus

    identified_on: date

    def _void(self, *, reason: str) -> None: ...
    def _correct_commitment_date(
        self, *, commitment_id: UUID, committed_on: date, was: date, reason: str
    ) -> None: ...

    def commitment(self, commitment_id: UUID) -> Commitment: ...
    def _void_commitment(
        self,
        *,
        commitment_id: UUID,
        reason: str,
        amount: Decimal,
        cancelled: Decimal,
        disbursed: Decimal,
        repaid: Decimal,
    ) -> None: ...
    def _reverse_disbursement(
        self,
        *,
        commitment_id: UUID,
        number: int,
        amount: Decimal,
        disbursed_on: date,
        reason: str,
    ) -> None: ...
    def _reverse_repayment(
        self,
        *,
        commitment_id: UUID,
        number: int,
        principal: Decimal,
        repaid_on: date,
        reason: str,
    ) -> None: ...


class UndoRules:
    """The undo commands of `Project`: each checks its rules, then records its event."""

    def void(self: _Project, *, reason: str) -> None:
        """Void a project recorded in error; refused while money remains committed to it."""
        if self.status is ProjectStatus.VOIDED:
            raise BusinessRuleError("project was already voided")
        live = sorted(str(cid) for cid, c in self.commitments.items() if c.net_committed > 0)
        if live:
            raise BusinessRuleError(
                f"project still has money committed under {', '.join(live)}: void or cancel "
                "the commitments first"
            )
        self._void(reason=text(reason, "reason"))

    def require_not_voided(self: _Project) -> None:
        """Refuse any change to a project voided (recorded in error)."""
        if self.status is ProjectStatus.VOIDED:
            raise BusinessRuleError("project was voided (recorded in error): it takes no change")

    def void_commitment(self: _Project, *, commitment_id: UUID, reason: str) -> None:
        """Void a commitment recorded in error: it and its movements leave every figure."""
        commitment = self.commitment(commitment_id)
        self._void_commitment(
            commitment_id=commitment_id,
            reason=text(reason, "reason"),
            amount=commitment.amount,
            cancelled=commitment.cancelled,
            disbursed=commitment.disbursed,
            repaid=commitment.repaid,
        )

    def correct_commitment_date(
        self: _Project, *, commitment_id: UUID, on: date, reason: str
    ) -> None:
        """Correct a commitment's effective date recorded in error; its money moves with it."""
        commitment = self.commitment(commitment_id)
        effective_date(on, "on")
        if on == commitment.committed_on:
            raise BusinessRuleError(f"commitment {commitment_id} is already dated {on}")
        if on < self.identified_on:
            raise BusinessRuleError(
                f"on {on} precedes the project's identification on {self.identified_on}"
            )
        first = commitment.first_movement_on
        if first is not None and on > first:
            raise BusinessRuleError(
                f"on {on} follows what was recorded under commitment {commitment_id} "
                f"on {first}: a commitment precedes its movements"
            )
        self._correct_commitment_date(
            commitment_id=commitment_id,
            committed_on=on,
            was=commitment.committed_on,
            reason=text(reason, "reason"),
        )

    def reverse_disbursement(
        self: _Project, *, commitment_id: UUID, number: int, reason: str
    ) -> None:
        """Reverse a disbursement recorded in error; refused while repayments need it."""
        commitment = self.commitment(commitment_id)
        move = _movement(commitment.disbursements, number, "disbursement", commitment_id)
        if commitment.disbursed - move.amount < commitment.repaid:
            raise AmountExceedsError(
                f"reversing disbursement {number} ({move.amount}) would leave "
                f"{commitment.disbursed - move.amount} disbursed under the {commitment.repaid} "
                f"repaid on loan {commitment_id}: reverse the repayments recorded in error first"
            )
        self._reverse_disbursement(
            commitment_id=commitment_id,
            number=number,
            amount=move.amount,
            disbursed_on=move.on,
            reason=text(reason, "reason"),
        )

    def reverse_repayment(self: _Project, *, commitment_id: UUID, number: int, reason: str) -> None:
        """Reverse a repayment recorded in error."""
        commitment = self.commitment(commitment_id)
        move = _movement(commitment.repayments, number, "repayment", commitment_id)
        self._reverse_repayment(
            commitment_id=commitment_id,
            number=number,
            principal=move.amount,
            repaid_on=move.on,
            reason=text(reason, "reason"),
        )


def _movement(moves: tuple[Movement, ...], number: int, what: str, commitment_id: UUID) -> Movement:
    """The movement of that number (from 1), not yet reversed."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidValueError("number", f"names a {what} by its number, from 1")
    if number > len(moves):
        raise NotFoundError(f"commitment {commitment_id} has no {what} {number}")
    move = moves[number - 1]
    if move.reversed:
        raise BusinessRuleError(
            f"{what} {number} of commitment {commitment_id} was already reversed"
        )
    return move
