"""Value rules shared by every command: money, effective dates, texts, and who is acting."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from uuid import UUID, uuid4

from domain.errors import InvalidValueError

CENT = Decimal("0.01")
# Plain decimal notation in ASCII only: Python's Decimal() and int() also read other scripts'
# digits ("١٢", "１２"), digit separators ("1_0"), exponents and spaces inside.
DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
# A number's text is bounded before it is read, and its decimals after.
MAX_NUMBER_TEXT = 40
MAX_DECIMALS = 20
MAX_AMOUNT = Decimal("1000000000000")
# Effective dates outside this window are typing mistakes, not history.
EARLIEST_DATE = date(1950, 1, 1)
LATEST_DATE = date(2100, 12, 31)
MAX_TEXT = 500
# The spaces a text may carry around it (stripped); any other control character is refused.
EDGE_SPACE = " \t\r\n"
# Characters that reorder what a reader sees (bidi embeddings, overrides and isolates) or break
# a one-line text (line and paragraph separators): they hide what a text really says.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_SEPARATORS = frozenset("\u2028\u2029")
# Letters that render as nothing: a text made of them (and spaces) is blank.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _shown(value: str) -> str:
    """The value as quoted in an error message, cut short."""
    return repr(value if len(value) <= MAX_NUMBER_TEXT else value[:MAX_NUMBER_TEXT] + "…")


def decimal_number(value: object, field: str) -> Decimal:
    """Return the exact number given as a Decimal, an int or plain ASCII decimal text.

    Every number of a command (an amount, a rate, a percentage, a measure) is read here, from
    JSON and CSV alike: text is `[+-]digits[.digits]`, at most MAX_NUMBER_TEXT characters;
    any number is finite with at most MAX_DECIMALS decimals. The caller checks its range.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidValueError(field, "must be a decimal number")
    if isinstance(value, str):
        written = value.strip(EDGE_SPACE)
        if len(written) > MAX_NUMBER_TEXT:
            raise InvalidValueError(
                field, f"is too long for a number: at most {MAX_NUMBER_TEXT} characters"
            )
        if not DECIMAL_TEXT.fullmatch(written):
            raise InvalidValueError(
                field,
                f"{_shown(value)} is not a decimal number like 1234.56 "
                "(ASCII digits and a point only: no exponent, separator or other script)",
            )
        number = Decimal(written)
    else:
        number = Decimal(value)
    if not number.is_finite():
        raise InvalidValueError(field, "must be a finite number")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
        raise InvalidValueError(field, f"has too many decimals: at most {MAX_DECIMALS}")
    return number


def money(value: object, field: str = "amount") -> Decimal:
    """Return a valid amount in euros: finite, > 0, at most 2 decimals, at most 1e12."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidValueError(field, "must be a decimal number of euros")
    amount = decimal_number(value, field)
    if amount <= 0:
        raise InvalidValueError(field, "must be greater than 0")
    if amount > MAX_AMOUNT:
        raise InvalidValueError(field, "must not exceed 1,000,000,000,000.00")
    if amount != amount.quantize(CENT):
        raise InvalidValueError(field, "must have at most 2 decimals")
    return amount.quantize(CENT)


def quantity(value: object, field: str) -> Decimal:
    """Return a finite, non-negative measure (an indicator value, a percentage)."""
    number = decimal_number(value, field)
    if number < 0 or number > MAX_AMOUNT:
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
    """Return a name or free text, stripped: one line, bounded, visible, hiding nothing.

    Every name and reason of every command is read here, from JSON and CSV alike.
    """
    if not isinstance(value, str):
        raise InvalidValueError(field, "must be a text")
    stripped = value.strip(EDGE_SPACE)
    if len(stripped) > max_length:
        raise InvalidValueError(field, f"must be at most {max_length} characters")
    # A printable text holds no control, surrogate, separator or format character: nothing
    # below can refuse it, and most texts are such (a quicker test than each character's).
    for char in "" if stripped.isprintable() else stripped:
        kind = unicodedata.category(char)
        if kind == "Cc":
            raise InvalidValueError(
                field, f"must not contain control characters (U+{ord(char):04X})"
            )
        if kind == "Cs":
            raise InvalidValueError(field, "must not contain lone surrogates")
        if char in LINE_SEPARATORS:
            raise InvalidValueError(field, "must hold one line: no line or paragraph separator")
        if char in BIDI_CONTROLS:
            raise InvalidValueError(
                field,
                f"must not contain bidirectional embedding, override or isolate characters "
                f"(U+{ord(char):04X})",
            )
    stripped = stripped.strip()
    if all(
        char.isspace() or char in BLANK_LETTERS or unicodedata.category(char) == "Cf"
        for char in stripped
    ):
        raise InvalidValueError(
            field, "must not be empty (nor only spaces or invisible characters)"
        )
    return stripped


class ProjectStatus(StrEnum):
    """Where a project stands."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    VOIDED = "voided"  # recorded in error: counted nowhere


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
