"""Value rules shared by every command: money, effective dates, texts, and who is acting."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from uuid import UUID, uuid4

from domain.errors import InvalidValueError

CENT = Decimal("0.01")
# Plain decimal notation only: no exponents, no digit separators, no spaces inside.
DECIMAL_TEXT = re.compile(r"^[+-]?\d+(\.\d+)?$")
MAX_AMOUNT = Decimal("1000000000000")
# Effective dates outside this window are typing mistakes, not history.
EARLIEST_DATE = date(1950, 1, 1)
LATEST_DATE = date(2100, 12, 31)
MAX_TEXT = 500


def money(value: object, field: str = "amount") -> Decimal:
    """Return a valid amount in euros: finite, > 0, at most 2 decimals, at most 1e12."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidValueError(field, "must be a decimal number of euros")
    if isinstance(value, str) and not DECIMAL_TEXT.match(value.strip()):
        raise InvalidValueError(field, f"{value!r} is not a decimal number like 1234.56")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidValueError(field, f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise InvalidValueError(field, "must be a finite number")
    if amount <= 0:
        raise InvalidValueError(field, "must be greater than 0")
    if amount > MAX_AMOUNT:
        raise InvalidValueError(field, "must not exceed 1,000,000,000,000.00")
    if amount != amount.quantize(CENT):
        raise InvalidValueError(field, "must have at most 2 decimals")
    return amount.quantize(CENT)


def quantity(value: object, field: str) -> Decimal:
    """Return a finite, non-negative measure (an indicator value, a percentage)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidValueError(field, "must be a decimal number")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidValueError(field, f"{value!r} is not a number") from None
    if not number.is_finite() or number < 0 or number > MAX_AMOUNT:
        raise InvalidValueError(field, "must be a finite number between 0 and 1e12")
    return number


def effective_date(value: date, field: str) -> date:
    """Return the date if it lies in the ledger's window of plausible business dates."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise InvalidValueError(
            field, f"must lie between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"
        )
    return value


def text(value: str, field: str, *, max_length: int = MAX_TEXT) -> str:
    """Return a stripped, non-empty text of bounded length."""
    stripped = value.strip()
    if not stripped:
        raise InvalidValueError(field, "must not be empty")
    if len(stripped) > max_length:
        raise InvalidValueError(field, f"must be at most {max_length} characters")
    if any(ord(c) < 32 and c not in "\t\n" for c in stripped):
        raise InvalidValueError(field, "must not contain control characters")
    return stripped


class ProjectStatus(StrEnum):
    """Where a project stands."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who issues a command: recorded in every event's metadata.

    A directorate-bound actor may write only for its own directorate; `directorate=None`
    means the actor is not bound (an administrator, a script).
    """

    name: str
    directorate: str | None = None
    correlation_id: str = field(default_factory=lambda: uuid4().hex)

    def meta(self) -> dict[str, str]:
        """Return the metadata stamped on each event this actor causes."""
        return {
            "actor": self.name,
            "directorate": self.directorate or "",
            "correlation_id": self.correlation_id,
        }


SYSTEM = Actor(name="system")


def new_id() -> UUID:
    """Return a fresh identifier for an aggregate or a commitment."""
    return uuid4()
