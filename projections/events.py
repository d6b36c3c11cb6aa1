"""The changes the read models apply, and the stored values their events hold.

The ledger stores each event's state as JSON, with the library's transcodings as
`{"_type_": name, "_data_": value}`: `decimal_str` ("1250.50"), `uuid_hex` (32 hex digits),
`date_iso` ("2024-03-01") and `datetime_iso`: the read models read them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections.money import to_cents

PROJECT_TOPIC = "domain.project:Project."
CONVENTION_TOPIC = "domain.convention:Convention."
# The aggregate a change is about ("project", "convention"), by its event's topic prefix.
AGGREGATES = {PROJECT_TOPIC: "project", CONVENTION_TOPIC: "convention"}
# The event that creates a project (a page reads no row for the projects it creates).
IDENTIFIED = "ProjectIdentified"
# Events that create a commitment, with the field holding its effective date and instrument.
COMMITMENT_CREATED: dict[str, tuple[str, str]] = {
    "LoanGranted": ("granted_on", "loan"),
    "EquityInvested": ("invested_on", "equity"),
    "StudyLaunched": ("launched_on", "study"),
}


def kind(topic: str) -> tuple[str, str]:
    """Return (aggregate, event name) of an event topic, or raise ValueError."""
    prefix, dot, name = topic.rpartition(".")
    aggregate = AGGREGATES.get(prefix + dot)
    if aggregate is None or not name:
        raise ValueError(f"{topic!r} is not the topic of a project's or convention's event")
    return aggregate, name


# Not frozen: a frozen dataclass costs four times as much to build, once per event.
@dataclass(slots=True)
class Change:
    """One event a read model cares about: where it sits in the log and its decoded state.

    Treat it as immutable: a page's changes are shared by every read model.
    """

    position: int
    aggregate: str  # "project" or "convention"
    name: str  # the event class name, e.g. "LoanGranted"
    aggregate_id: str
    version: int
    data: dict[str, Any]
    # The state's `commitment_id` as canonical UUID text (read once for every read model).
    commitment_id: str | None = None

    @property
    def commitment(self) -> str:
        """The commitment the event is about, or KeyError if none."""
        if self.commitment_id is None:
            raise KeyError(f"{self.name} names no commitment")
        return self.commitment_id


def cents(value: Any) -> int:
    """Return a stored `decimal_str` amount as integer cents."""
    text = str(value["_data_"])
    whole, _, fraction = text.partition(".")
    if len(fraction) == 2 and whole.isdigit() and fraction.isdigit():
        return int(whole) * 100 + int(fraction)  # the store's usual form: "1250.50"
    return to_cents(text)


def optional_cents(value: Any) -> int | None:
    """Return a stored optional amount as cents, or None."""
    return None if value is None else cents(value)


def day(value: Any) -> str:
    """Return a stored `date_iso` as its ISO text."""
    text: str = value["_data_"]
    return text


def optional_day(value: Any) -> str | None:
    """Return a stored optional date as ISO text, or None."""
    return None if value is None else day(value)


def uuid_text(value: Any) -> str:
    """Return a stored `uuid_hex` in the canonical 8-4-4-4-12 form."""
    h: str = value["_data_"]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def recorded_at(change: Change) -> str | None:
    """Return when the event was created (ISO 8601), if the state says."""
    stamp = change.data.get("timestamp")
    return None if stamp is None else str(stamp["_data_"])
