"""Impact indicators of a project: the value class and the rules of their commands.

`Project` mixes `IndicatorRules` in; the events and the `@event` methods that apply them
stay in `Project`'s own body, where the library finds them and where their stored topics
point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

from domain.errors import InvalidValueError, NotFoundError
from domain.values import effective_date, quantity, text

INDICATOR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass
class Indicator:
    """An impact indicator with its target and the measures taken."""

    unit: str
    target: Decimal
    due_on: date
    baseline: Decimal | None = None
    measurements: list[tuple[date, Decimal]] = field(default_factory=list)


class _Project(Protocol):
    """What the rules use of the `Project` they are mixed into: its state and event methods."""

    indicators: dict[str, Indicator]

    def _set_indicator(
        self, *, indicator: str, unit: str, baseline: Decimal | None, target: Decimal, due_on: date
    ) -> None: ...
    def _measure(self, *, indicator: str, value: Decimal, measured_on: date) -> None: ...


class IndicatorRules:
    """The indicator commands of `Project`: each checks its rules, then records its event."""

    def set_indicator(
        self: _Project,
        *,
        indicator: str,
        unit: str,
        target: Decimal | str | int,
        due_on: date,
        baseline: Decimal | str | int | None = None,
    ) -> None:
        """Set (or reset) an impact indicator with its target."""
        if not INDICATOR_CODE.fullmatch(indicator):
            raise InvalidValueError(
                "indicator", "must be a lowercase code: letters, digits, underscores"
            )
        self._set_indicator(
            indicator=indicator,
            unit=text(unit, "unit", max_length=50),
            baseline=None if baseline is None else quantity(baseline, "baseline"),
            target=quantity(target, "target"),
            due_on=effective_date(due_on, "due_on"),
        )

    def measure(
        self: _Project, *, indicator: str, value: Decimal | str | int, measured_on: date
    ) -> None:
        """Record a measure of an impact indicator."""
        if indicator not in self.indicators:
            raise NotFoundError(f"project has no indicator {indicator!r}")
        self._measure(
            indicator=indicator,
            value=quantity(value, "value"),
            measured_on=effective_date(measured_on, "measured_on"),
        )
