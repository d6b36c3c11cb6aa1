"""What the read models' queries share: a snapshot of a live generation, filters, figures.

Every read runs in one snapshot transaction that first looks up the live generation and its
tracking position, then reads that generation's tables (not the views), so a blue/green swap
is atomic for readers and `position` says how fresh the answer is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar
from uuid import UUID

from domain.errors import (
    InvalidValueError,
    UnknownCodeError,
    UnknownDirectorateError,
    UnknownInstrumentError,
    UnknownProgrammeError,
    UnknownTerritoryError,
    UnknownThemeError,
)
from domain.reference import DIRECTORATES, PROGRAMMES, THEMES, Instrument
from domain.reference.territories import Band, TerritoryLevel, load_territories
from domain.values import EARLIEST_DATE, LATEST_DATE
from projections.db import ReadModelDatabase
from projections.generations import read_live_position
from projections.money import from_cents
from projections.registry import READ_MODELS
from projections.sql import Cursor
from projections.state import NONE

T = TypeVar("T")
Collection = Mapping[str, object] | Sequence[str]

DIMENSIONS = (
    "region",
    "departement",
    "epci",
    "commune",
    "band",
    "theme",
    "instrument",
    "programme",
    "directorate",
    "convention",
    "year",
    "quarter",
    "month",
)
FIGURES = (
    "committed",
    "cancelled",
    "net_committed",
    "disbursed",
    "to_disburse",
    "repaid",
    "outstanding",
    "projects",
    "commitments",
    "leverage",
)
TERRITORY_FILTER = "territory"
# Dimensions whose value may be absent ('' in SQL, null in JSON): filter them with "".
NULLABLE = frozenset(
    {"departement", "epci", "commune", "band", "instrument", "programme", "convention"}
)
TERRITORY_LEVELS = frozenset(level.value for level in TerritoryLevel)
QUARTER = re.compile(r"^\d{4}-Q[1-4]$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
LEVERAGE_PLACES = Decimal("0.01")
READ_ATTEMPTS = 3
# The error of an unknown code of each vocabulary (a band is a plain unknown code).
UNKNOWN: dict[str, type[UnknownCodeError]] = {
    "theme": UnknownThemeError,
    "programme": UnknownProgrammeError,
    "directorate": UnknownDirectorateError,
    "instrument": UnknownInstrumentError,
}


def read_snapshot(
    db: ReadModelDatabase, read_model: str, query: Callable[[Cursor, int], T]
) -> tuple[T | None, int]:
    """Run `query(cursor, live generation)` in one snapshot; return its answer and position.

    The answer is None while the read model has no generation yet (position 0).
    """
    for attempt in range(READ_ATTEMPTS):
        try:
            with db.transaction(readonly=True) as cur:
                generation, position = read_live_position(db, cur, read_model)
                if generation == 0:
                    return None, 0
                return query(cur, generation), position
        except Exception as error:
            # A swap dropped the generation between our lookup and our read: read again.
            if attempt + 1 == READ_ATTEMPTS or not db.is_missing_table(error):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def position(db: ReadModelDatabase, read_model: str) -> int:
    """Return the log position the live generation of a read model has reached (0 if none)."""
    if read_model not in READ_MODELS:
        raise InvalidValueError("read_model", f"unknown read model {read_model!r}")
    with db.transaction(readonly=True) as cur:
        return read_live_position(db, cur, read_model)[1]


def condition(name: str, raw: object) -> tuple[str, object]:
    """Return the (column, value) a filter compares, or raise InvalidValueError naming it."""
    value = str(raw).strip()
    if name == TERRITORY_FILTER:
        try:
            territory = load_territories().get(value)
        except UnknownCodeError:
            raise UnknownTerritoryError(value, field=name) from None
        return territory.level.value, territory.code
    if name not in DIMENSIONS:
        raise InvalidValueError(
            name,
            f"unknown filter: expected territory or one of {', '.join(DIMENSIONS)}",
        )
    if value == "":
        if name not in NULLABLE:
            raise InvalidValueError(name, "always has a value: an empty filter matches nothing")
        return name, NONE
    if name in TERRITORY_LEVELS:
        code = value if ":" in value else f"{name}:{value}"
        if code.partition(":")[0] != name or code not in load_territories():
            raise UnknownTerritoryError(value, field=name)
        return name, code
    if name in ("year", "quarter", "month"):
        return name, _period(name, value)
    vocabularies: dict[str, Collection] = {
        "band": [band.value for band in Band],
        "theme": THEMES,
        "programme": PROGRAMMES,
        "directorate": DIRECTORATES,
        "instrument": [instrument.value for instrument in Instrument],
    }
    if name == "convention":
        try:
            return name, str(UUID(value))
        except ValueError:
            raise InvalidValueError(name, f"{value!r} is not a convention id") from None
    if value not in vocabularies[name]:
        raise UNKNOWN.get(name, UnknownCodeError)(value, field=name)
    return name, value


def _period(name: str, value: str) -> object:
    if name == "year":
        if not value.isdigit() or not EARLIEST_DATE.year <= int(value) <= LATEST_DATE.year:
            raise InvalidValueError(name, f"{value!r} is not a year like 2024")
        return int(value)
    pattern, example = (QUARTER, "2024-Q1") if name == "quarter" else (MONTH, "2024-03")
    if not pattern.match(value):
        raise InvalidValueError(name, f"{value!r} is not a {name} like {example}")
    return value


def figures(values: Sequence[int]) -> dict[str, Any]:
    """Return the figures of summed measures (cents and counts)."""
    (
        committed,
        cancelled,
        disbursed,
        repaid,
        outstanding,
        projects,
        commitments,
        cost,
        net_costed,
    ) = values
    net = committed - cancelled
    return {
        "committed": from_cents(committed),
        "cancelled": from_cents(cancelled),
        "net_committed": from_cents(net),
        "disbursed": from_cents(disbursed),
        "to_disburse": from_cents(net - disbursed),
        "repaid": from_cents(repaid),
        "outstanding": from_cents(outstanding),
        "projects": projects,
        "commitments": commitments,
        "leverage": leverage(cost, net_costed),
    }


def leverage(estimated_cost: int, net_committed: int) -> Decimal | None:
    """Return Σ estimated cost / Σ net committed (costed projects), or None when unknown."""
    if net_committed == 0 or estimated_cost == 0:
        return None
    ratio = Decimal(estimated_cost) / Decimal(net_committed)
    return ratio.quantize(LEVERAGE_PLACES, rounding=ROUND_HALF_UP)


def as_uuid(field: str, value: UUID | str) -> str:
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise InvalidValueError(field, f"{value!r} is not an id") from None


def as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
