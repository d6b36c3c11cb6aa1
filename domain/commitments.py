"""Commitments on a project: the value class and the rules of the commands that move them.

`Project` mixes `CommitmentRules` in; the events and the `@event` methods that apply them
stay in `Project`'s own body, where the library finds them and where their stored topics
(`domain.project:Project.LoanGranted`, ...) point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from domain.errors import (
    AmountExceedsError,
    BusinessRuleError,
    DuplicateCommitmentError,
    InvalidValueError,
    NotFoundError,
)
from domain.reference import Instrument
from domain.values import effective_date, money, quantity, text

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Movement:
    """One disbursement or repayment under a commitment, by its number (from 1)."""

    amount: Decimal
    on: date
    reversed: bool = False


@dataclass(frozen=True)
class Commitment:
    """One loan, equity investment or study on a project, and the money moved under it.

    Immutable: an event replaces it with a changed copy, so that a project's copy for a
    command shares its commitments instead of copying each one.
    """

    instrument: Instrument
    amount: Decimal
    committed_on: date
    details: Mapping[str, Any]
    cancelled: Decimal = ZERO
    disbursed: Decimal = ZERO
    repaid: Decimal = ZERO
    delivered_on: date | None = None
    # Every disbursement and repayment in the order recorded: a reversal names one by number.
    disbursements: tuple[Movement, ...] = ()
    repayments: tuple[Movement, ...] = ()
    # The dates of its cancellations: a corrected commitment date may not follow them.
    cancelled_on: tuple[date, ...] = ()

    @property
    def first_movement_on(self) -> date | None:
        """The earliest date of what was recorded under it (movements, delivery), if any."""
        dates = [
            *(m.on for m in (*self.disbursements, *self.repayments) if not m.reversed),
            *self.cancelled_on,
            *([self.delivered_on] if self.delivered_on is not None else []),
        ]
        return min(dates, default=None)

    def __deepcopy__(self, memo: dict[int, Any]) -> Commitment:
        return self  # immutable

    @property
    def net_committed(self) -> Decimal:
        """What remains committed after cancellations."""
        return self.amount - self.cancelled

    @property
    def to_disburse(self) -> Decimal:
        """What is committed and not yet disbursed."""
        return self.net_committed - self.disbursed

    @property
    def outstanding(self) -> Decimal:
        """What the borrower owes: a loan's principal disbursed and not yet repaid.

        An equity stake is held, not owed, and a study is spent: neither is outstanding
        (see docs/reporting.md, "What each figure means").
        """
        if self.instrument is not Instrument.LOAN:
            return ZERO
        return self.disbursed - self.repaid


class _Project(Protocol):
    """What the rules use of the `Project` they are mixed into: its state and event methods."""

    commitments: dict[UUID, Commitment]
    voided: dict[UUID, Commitment]
    identified_on: date

    def _require_open(self) -> None: ...
    def commitment(self, commitment_id: UUID) -> Commitment: ...
    # The @event methods, keyword-only as the rules call them.
    def _grant_loan(
        self,
        *,
        commitment_id: UUID,
        amount: Decimal,
        granted_on: date,
        duration_months: int,
        rate: Decimal | None,
        product: str | None,
    ) -> None: ...
    def _invest_equity(
        self,
        *,
        commitment_id: UUID,
        amount: Decimal,
        invested_on: date,
        stake_percent: Decimal | None,
        vehicle: str | None,
    ) -> None: ...
    def _launch_study(
        self,
        *,
        commitment_id: UUID,
        amount: Decimal,
        launched_on: date,
        subject: str,
        provider: str | None,
    ) -> None: ...
    def _deliver_study(self, *, commitment_id: UUID, delivered_on: date) -> None: ...
    def _disburse(self, *, commitment_id: UUID, amount: Decimal, disbursed_on: date) -> None: ...
    def _record_repayment(
        self, *, commitment_id: UUID, principal: Decimal, repaid_on: date
    ) -> None: ...
    def _cancel_commitment(
        self, *, commitment_id: UUID, amount: Decimal, cancelled_on: date, reason: str
    ) -> None: ...
    def _correct_commitment_amount(
        self, *, commitment_id: UUID, amount: Decimal, reason: str
    ) -> None: ...


class CommitmentRules:
    """The commitment commands of `Project`: each checks its rules, then records its event."""

    def grant_loan(
        self: _Project,
        *,
        commitment_id: UUID,
        amount: Decimal | str | int,
        granted_on: date,
        duration_months: int,
        rate: Decimal | str | None = None,
        product: str | None = None,
    ) -> None:
        """Grant a loan: commits its amount at the grant date."""
        self._require_open()
        _require_new(self, commitment_id)
        if (
            isinstance(duration_months, bool)
            or not isinstance(duration_months, int)
            or not 1 <= duration_months <= 600
        ):
            raise InvalidValueError("duration_months", "must be between 1 and 600 months")
        rate_value = None if rate is None else quantity(rate, "rate")
        if rate_value is not None and rate_value > 100:
            raise InvalidValueError("rate", "is a yearly percentage, at most 100")
        self._grant_loan(
            commitment_id=commitment_id,
            amount=money(amount),
            granted_on=_commitment_date(self, granted_on, "granted_on"),
            duration_months=duration_months,
            rate=rate_value,
            product=None if product is None else text(product, "product", max_length=100),
        )

    def invest_equity(
        self: _Project,
        *,
        commitment_id: UUID,
        amount: Decimal | str | int,
        invested_on: date,
        stake_percent: Decimal | str | None = None,
        vehicle: str | None = None,
    ) -> None:
        """Take an equity stake: commits its amount at the investment date."""
        self._require_open()
        _require_new(self, commitment_id)
        stake = None if stake_percent is None else quantity(stake_percent, "stake_percent")
        if stake is not None and not 0 < stake <= 100:
            raise InvalidValueError("stake_percent", "must be above 0 and at most 100")
        self._invest_equity(
            commitment_id=commitment_id,
            amount=money(amount),
            invested_on=_commitment_date(self, invested_on, "invested_on"),
            stake_percent=stake,
            vehicle=None if vehicle is None else text(vehicle, "vehicle", max_length=100),
        )

    def launch_study(
        self: _Project,
        *,
        commitment_id: UUID,
        amount: Decimal | str | int,
        launched_on: date,
        subject: str,
        provider: str | None = None,
    ) -> None:
        """Launch an engineering study: commits its budget at the launch date."""
        self._require_open()
        _require_new(self, commitment_id)
        self._launch_study(
            commitment_id=commitment_id,
            amount=money(amount),
            launched_on=_commitment_date(self, launched_on, "launched_on"),
            subject=text(subject, "subject", max_length=200),
            provider=None if provider is None else text(provider, "provider", max_length=200),
        )

    def deliver_study(self: _Project, *, commitment_id: UUID, delivered_on: date) -> None:
        """Record that a study was delivered."""
        commitment = self.commitment(commitment_id)
        if commitment.instrument is not Instrument.STUDY:
            raise BusinessRuleError(f"commitment {commitment_id} is a {commitment.instrument}")
        if commitment.delivered_on is not None:
            raise BusinessRuleError(
                f"study {commitment_id} was already delivered on {commitment.delivered_on}"
            )
        _not_before(commitment, delivered_on, "delivered_on")
        self._deliver_study(
            commitment_id=commitment_id,
            delivered_on=effective_date(delivered_on, "delivered_on"),
        )

    def disburse(
        self: _Project, *, commitment_id: UUID, amount: Decimal | str | int, disbursed_on: date
    ) -> None:
        """Pay out money under a commitment, up to what remains to disburse."""
        commitment = self.commitment(commitment_id)
        value = money(amount)
        if value > commitment.to_disburse:
            raise AmountExceedsError(
                f"disbursing {value} exceeds the {commitment.to_disburse} left to disburse "
                f"on commitment {commitment_id}"
            )
        _not_before(commitment, disbursed_on, "disbursed_on")
        self._disburse(
            commitment_id=commitment_id,
            amount=value,
            disbursed_on=effective_date(disbursed_on, "disbursed_on"),
        )

    def record_repayment(
        self: _Project, *, commitment_id: UUID, principal: Decimal | str | int, repaid_on: date
    ) -> None:
        """Record principal repaid on a loan, up to what was disbursed and not repaid."""
        commitment = self.commitment(commitment_id)
        if commitment.instrument is not Instrument.LOAN:
            raise BusinessRuleError(
                f"commitment {commitment_id} is a {commitment.instrument}; only loans are repaid"
            )
        value = money(principal, "principal")
        if value > commitment.outstanding:
            raise AmountExceedsError(
                f"repaying {value} exceeds the {commitment.outstanding} outstanding "
                f"on loan {commitment_id}"
            )
        _not_before(commitment, repaid_on, "repaid_on")
        self._record_repayment(
            commitment_id=commitment_id,
            principal=value,
            repaid_on=effective_date(repaid_on, "repaid_on"),
        )

    def cancel_commitment(
        self: _Project,
        *,
        commitment_id: UUID,
        amount: Decimal | str | int,
        cancelled_on: date,
        reason: str,
    ) -> None:
        """Cancel part or all of what is committed and not yet disbursed."""
        commitment = self.commitment(commitment_id)
        value = money(amount)
        if value > commitment.to_disburse:
            raise AmountExceedsError(
                f"cancelling {value} exceeds the {commitment.to_disburse} committed and not "
                f"disbursed on commitment {commitment_id}"
            )
        _not_before(commitment, cancelled_on, "cancelled_on")
        self._cancel_commitment(
            commitment_id=commitment_id,
            amount=value,
            cancelled_on=effective_date(cancelled_on, "cancelled_on"),
            reason=text(reason, "reason"),
        )

    def correct_commitment_amount(
        self: _Project, *, commitment_id: UUID, amount: Decimal | str | int, reason: str
    ) -> None:
        """Correct a recording error in a commitment's amount; it counts at the original date."""
        commitment = self.commitment(commitment_id)
        value = money(amount)
        if value == commitment.amount:
            raise BusinessRuleError(f"commitment {commitment_id} is already {value}")
        floor = commitment.cancelled + commitment.disbursed
        if value < floor:
            raise AmountExceedsError(
                f"the corrected amount {value} is below the {floor} already cancelled or "
                f"disbursed on commitment {commitment_id}"
            )
        self._correct_commitment_amount(
            commitment_id=commitment_id, amount=value, reason=text(reason, "reason")
        )

    def commitment(self: _Project, commitment_id: UUID) -> Commitment:
        """Return a commitment, or raise NotFoundError (BusinessRuleError once voided)."""
        if commitment_id in self.voided:
            raise BusinessRuleError(f"commitment {commitment_id} was voided (recorded in error)")
        try:
            return self.commitments[commitment_id]
        except KeyError:
            raise NotFoundError(f"project has no commitment {commitment_id}") from None

    def _change_commitment(self: _Project, commitment_id: UUID, **changes: Any) -> None:
        """Replace a commitment by a copy with some fields changed (they are immutable)."""
        self.commitments[commitment_id] = replace(self.commitments[commitment_id], **changes)


# Checks shared by the commands ------------------------------------------------------------


def _require_new(project: _Project, commitment_id: UUID) -> None:
    if commitment_id in project.commitments or commitment_id in project.voided:
        raise DuplicateCommitmentError(f"commitment {commitment_id} already exists")


def _commitment_date(project: _Project, on: date, field_name: str) -> date:
    effective_date(on, field_name)
    if on < project.identified_on:
        raise BusinessRuleError(
            f"{field_name} {on} precedes the project's identification on {project.identified_on}"
        )
    return on


def _not_before(commitment: Commitment, on: date, field_name: str) -> None:
    if on < commitment.committed_on:
        raise BusinessRuleError(
            f"{field_name} {on} precedes the commitment date {commitment.committed_on}"
        )
