"""Undoing an entry recorded in error, keeping it in history: the rules of `Project`.

`Project` mixes `UndoRules` in; the events and the `@event` methods that apply them stay in
`Project`'s own body, where the library finds them.

A voided commitment takes the money moved under it (disbursed, repaid, cancelled) with it:
a movement exists only under its commitment, so every figure is as if none of it had been
recorded, at every date. The commitment stays in the project's history (`Project.voided`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol
from uuid import UUID

from domain.commitments import Commitment
from domain.values import text


class _Project(Protocol):
    """What the rules use of the `Project` they are mixed into."""

    commitments: dict[UUID, Commitment]
    voided: dict[UUID, Commitment]

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


class UndoRules:
    """The undo commands of `Project`: each checks its rules, then records its event."""

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
