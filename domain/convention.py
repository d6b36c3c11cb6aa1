"""The Convention aggregate: a partnership agreement between the bank and territories."""

from __future__ import annotations

from dataclasses import field
from datetime import date
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import BusinessRuleError, InvalidValueError
from domain.reference import directorate as find_directorate
from domain.reference import theme as check_theme
from domain.reference.territories import load_territories
from domain.values import effective_date, money, text


def _signatories(codes: list[str]) -> list[str]:
    if not codes:
        raise InvalidValueError("signatories", "name at least one territory")
    territories = load_territories()
    for code in codes:
        territories.get(code)
    if len(set(codes)) != len(codes):
        raise InvalidValueError("signatories", "lists a territory twice")
    return list(codes)


def _themes(codes: list[str]) -> list[str]:
    if not codes:
        raise InvalidValueError("themes", "name at least one theme")
    if len(set(codes)) != len(codes):
        raise InvalidValueError("themes", "lists a theme twice")
    return [check_theme(code) for code in codes]


class Convention(Aggregate):
    """A partnership convention: signatory territories, themes, a period and an envelope."""

    class Event(Aggregate.Event):
        """Base of every convention event; `meta` records actor, directorate and correlation id."""

        meta: dict[str, str] = field(default_factory=dict, kw_only=True)

    class ConventionSigned(Event, Aggregate.Created):
        title: str
        directorate: str
        signatories: list[str]
        themes: list[str]
        signed_on: date
        ends_on: date | None
        envelope: Decimal | None

    class ConventionAmended(Event):
        title: str | None
        signatories: list[str] | None
        themes: list[str] | None
        ends_on: date | None
        envelope: Decimal | None
        reason: str

    class ConventionEnded(Event):
        on: date
        reason: str | None

    def __init__(
        self,
        title: str,
        directorate: str,
        signatories: list[str],
        themes: list[str],
        signed_on: date,
        ends_on: date | None,
        envelope: Decimal | None,
    ) -> None:
        self.title = title
        self.directorate = directorate
        self.signatories = signatories
        self.themes = themes
        self.signed_on = signed_on
        self.ends_on = ends_on
        self.envelope = envelope
        self.ended_on: date | None = None

    @classmethod
    def sign(
        cls,
        *,
        convention_id: UUID,
        title: str,
        directorate: str,
        signatories: list[str],
        themes: list[str],
        signed_on: date,
        ends_on: date | None = None,
        envelope: Decimal | str | None = None,
    ) -> Convention:
        """Sign a convention for a directorate."""
        find_directorate(directorate)
        effective_date(signed_on, "signed_on")
        if ends_on is not None and effective_date(ends_on, "ends_on") <= signed_on:
            raise InvalidValueError("ends_on", "must come after signed_on")
        return cls._create(
            cls.ConventionSigned,
            id=convention_id,
            title=text(title, "title", max_length=300),
            directorate=directorate,
            signatories=_signatories(signatories),
            themes=_themes(themes),
            signed_on=signed_on,
            ends_on=ends_on,
            envelope=None if envelope is None else money(envelope, "envelope"),
        )

    def amend(
        self,
        *,
        reason: str,
        title: str | None = None,
        signatories: list[str] | None = None,
        themes: list[str] | None = None,
        ends_on: date | None = None,
        envelope: Decimal | str | None = None,
    ) -> None:
        """Amend the convention's terms."""
        self._require_in_force()
        if ends_on is not None and effective_date(ends_on, "ends_on") <= self.signed_on:
            raise InvalidValueError("ends_on", "must come after signed_on")
        if all(v is None for v in (title, signatories, themes, ends_on, envelope)):
            raise InvalidValueError("amendment", "name at least one term to amend")
        self._amend(
            title=None if title is None else text(title, "title", max_length=300),
            signatories=None if signatories is None else _signatories(signatories),
            themes=None if themes is None else _themes(themes),
            ends_on=ends_on,
            envelope=None if envelope is None else money(envelope, "envelope"),
            reason=text(reason, "reason"),
        )

    def end(self, *, on: date, reason: str | None = None) -> None:
        """End the convention."""
        self._require_in_force()
        if effective_date(on, "on") < self.signed_on:
            raise BusinessRuleError(f"{on} precedes the signature on {self.signed_on}")
        self._end(on=on, reason=None if reason is None else text(reason, "reason"))

    @property
    def in_force(self) -> bool:
        """Whether the convention still takes projects."""
        return self.ended_on is None

    def _require_in_force(self) -> None:
        if not self.in_force:
            raise BusinessRuleError(f"convention ended on {self.ended_on}")

    def require_in_force(self) -> None:
        """Refuse to link a project to an ended convention."""
        self._require_in_force()

    def require_partner(self, project_directorate: str) -> None:
        """Refuse a project of another directorate: a convention is one directorate's."""
        if project_directorate != self.directorate:
            raise BusinessRuleError(
                f"the convention belongs to directorate {self.directorate!r}, "
                f"the project to {project_directorate!r}"
            )

    @event(ConventionAmended)
    def _amend(
        self,
        title: str | None,
        signatories: list[str] | None,
        themes: list[str] | None,
        ends_on: date | None,
        envelope: Decimal | None,
        reason: str,  # noqa: ARG002 - kept in the event, not in the state
    ) -> None:
        if title is not None:
            self.title = title
        if signatories is not None:
            self.signatories = signatories
        if themes is not None:
            self.themes = themes
        if ends_on is not None:
            self.ends_on = ends_on
        if envelope is not None:
            self.envelope = envelope

    @event(ConventionEnded)
    def _end(self, on: date, reason: str | None) -> None:  # noqa: ARG002
        self.ended_on = on
