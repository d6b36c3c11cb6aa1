"""Domain errors: every refusal the ledger can give, each naming what was wrong."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused; nothing was recorded."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidValueError(DomainError):
    """A value is malformed or out of range (an amount, a date, a text)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


class UnknownCodeError(InvalidValueError):
    """A code is not in the reference data."""

    kind = "code"

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(field or self.kind, f"unknown {self.kind} {code!r}")
        self.code = code


class UnknownTerritoryError(UnknownCodeError):
    """A territory code is malformed or not in the Code Officiel Géographique."""

    kind = "territory"


class UnknownThemeError(UnknownCodeError):
    """A theme code is not in the reference vocabulary."""

    kind = "theme"


class UnknownProgrammeError(UnknownCodeError):
    """A programme code is not in the reference vocabulary."""

    kind = "programme"


class UnknownDirectorateError(UnknownCodeError):
    """A directorate code is not one of the sixteen."""

    kind = "directorate"


class UnknownInstrumentError(UnknownCodeError):
    """An instrument code is not loan, equity or study."""

    kind = "instrument"


class BusinessRuleError(DomainError):
    """The command is well formed but breaks a rule of the ledger."""


class ProjectClosedError(BusinessRuleError):
    """The project is completed or abandoned and takes no more commitments."""


class DuplicateCommitmentError(BusinessRuleError):
    """The commitment id is already used on this project."""


class AmountExceedsError(BusinessRuleError):
    """An amount is more than the rule allows (disbursed, repaid, cancelled)."""


class DuplicateReferenceError(BusinessRuleError):
    """The project reference is already used in this directorate."""


class NotFoundError(DomainError):
    """No project, convention or commitment has this id."""


class OutOfScopeError(DomainError):
    """The actor's directorate may not write here."""


class VersionMismatchError(DomainError):
    """The aggregate is not at the version the caller expected."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected}, the aggregate is at version {actual}")
        self.expected = expected
        self.actual = actual


class CorruptEventError(Exception):
    """A stored event's bytes cannot be decoded: the store is damaged, not the request.

    Not a DomainError: no command was refused. It names the event's place in the global log
    (None when the log no longer holds it), its aggregate and version, and what failed.
    """

    def __init__(
        self, position: int | None, originator_id: object, version: int, reason: str
    ) -> None:
        where = "an unknown log position" if position is None else f"log position {position}"
        super().__init__(
            f"the event at {where} (aggregate {originator_id}, version {version}) "
            f"cannot be decoded: {reason}"
        )
        self.position = position
        self.originator_id = str(originator_id)
        self.version = version
        self.reason = reason


class PossibleDuplicateError(BusinessRuleError):
    """The write repeats a recent one field for field: most likely the same fact typed twice.

    `earlier` names the earlier write (its project, commitment, kind, log position and time);
    the caller may confirm that both are meant.
    """

    def __init__(self, detail: str, earlier: dict[str, object]) -> None:
        super().__init__(detail)
        self.earlier = earlier
