"""Request bodies: one per command, derived from the command's fields.

A body holds the command's fields less those the path names (the project, the commitment)
and those the server fills in (a new project's id); a commitment id the server would choose
may be sent. Field types are read strictly: dates as YYYY-MM-DD, numbers kept exactly as sent
for the domain to judge, unknown fields refused.
"""

from __future__ import annotations

import re
import types
from dataclasses import MISSING, fields
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin, get_type_hints

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    Strict,
    WithJsonSchema,
    create_model,
)

from api.exact_json import JSONNumber
from domain import commands
from domain.commands import Command, Number

# Dates are written one way only, in ASCII digits: 2024-12-31.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _number(value: object) -> object:
    """Keep a number exactly as sent; the domain's money() and quantity() judge it."""
    if isinstance(value, bool | Decimal | str):
        # A boolean goes on too: the domain refuses it in its own words.
        return value
    if isinstance(value, JSONNumber):
        # As its text: the domain refuses an exponent or a length in its own words.
        return value.text
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # Only a caller that parsed JSON with floats gets here (ExactJSONRequest never does);
        # str() gives the shortest decimal that reads back as the same float.
        return Decimal(str(value))
    raise ValueError('must be a decimal number, as a string like "1234.56" or a JSON number')


def _iso_date(value: object) -> object:
    # Without this, pydantic reads 0 or "0" as 1970-01-01 (a Unix time).
    if isinstance(value, date) or (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


# Money: a string with at most 2 decimals ("35000000.00") or a JSON number; checked by money().
Money = Annotated[
    Decimal | str,
    PlainValidator(_number),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"},
                {"type": "number"},
            ],
            "examples": ["35000000.00"],
        }
    ),
]
# A measure (a rate, a percentage, an indicator value): a decimal string or a JSON number.
Quantity = Annotated[
    Decimal | str,
    PlainValidator(_number),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}], "examples": ["2.5"]}),
]
# A date in a body or a query: YYYY-MM-DD only.
Day = Annotated[date, BeforeValidator(_iso_date)]
Months = Annotated[int, Strict()]


class Body(BaseModel):
    """A write's JSON body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# Bodies derived from the commands ------------------------------------------------------------


def _field_type(hint: Any) -> Any:
    """The body's type for a command field's type."""
    if get_origin(hint) is Annotated:
        inner, *marks = get_args(hint)
        if Number.MONEY in marks:
            return Money
        if Number.QUANTITY in marks:
            return Quantity
        return _field_type(inner)
    if get_origin(hint) in (Union, types.UnionType):
        return Union[tuple(_field_type(a) for a in get_args(hint))]  # noqa: UP007
    if hint is date:
        return Day
    if hint is int:
        return Months
    return hint


def body_of(
    command: type[Command], name: str, *, path: tuple[str, ...] = (), server: tuple[str, ...] = ()
) -> type[Body]:
    """The JSON body of a command: its fields, less those of the path and the server's."""
    hints = get_type_hints(command, include_extras=True)
    members: dict[str, Any] = {}
    for f in fields(command):
        if f.name in path or f.name in server:
            continue
        kind = _field_type(hints[f.name])
        if f.default is not MISSING:
            members[f.name] = (kind, f.default)
        elif f.default_factory is not MISSING:
            # An id the server chooses unless the client names it.
            members[f.name] = (kind | None, None)
        else:
            members[f.name] = (kind, ...)
    model: type[Body] = create_model(name, __base__=Body, __doc__=command.__doc__, **members)
    return model


PROJECT = ("project_id",)
COMMITMENT = ("project_id", "commitment_id")

if TYPE_CHECKING:
    # Built at import time: to the type checker, each is a body.
    ProjectIn = Body
    LoanIn = Body
    EquityIn = Body
    StudyIn = Body
    DeliveryIn = Body
    DisbursementIn = Body
    RepaymentIn = Body
    CancellationIn = Body
    AmountCorrectionIn = Body
    VoidingIn = Body
    ReversalIn = Body
    ProjectVoidingIn = Body
    DateCorrectionIn = Body
    IndicatorIn = Body
    MeasurementIn = Body
    ClosureIn = Body
    ConventionIn = Body
    LinkIn = Body
    CorrectionBase = Body
else:
    ProjectIn = body_of(commands.IdentifyProject, "ProjectIn", server=("project_id",))
    LoanIn = body_of(commands.GrantLoan, "LoanIn", path=PROJECT)
    EquityIn = body_of(commands.InvestEquity, "EquityIn", path=PROJECT)
    StudyIn = body_of(commands.LaunchStudy, "StudyIn", path=PROJECT)
    DeliveryIn = body_of(commands.DeliverStudy, "DeliveryIn", path=COMMITMENT)
    DisbursementIn = body_of(commands.Disburse, "DisbursementIn", path=COMMITMENT)
    RepaymentIn = body_of(commands.RecordRepayment, "RepaymentIn", path=COMMITMENT)
    CancellationIn = body_of(commands.CancelCommitment, "CancellationIn", path=COMMITMENT)
    AmountCorrectionIn = body_of(
        commands.CorrectCommitmentAmount, "AmountCorrectionIn", path=COMMITMENT
    )
    VoidingIn = body_of(commands.VoidCommitment, "VoidingIn", path=COMMITMENT)
    DateCorrectionIn = body_of(commands.CorrectCommitmentDate, "DateCorrectionIn", path=COMMITMENT)
    ProjectVoidingIn = body_of(commands.VoidProject, "ProjectVoidingIn", path=PROJECT)
    ReversalIn = body_of(commands.ReverseDisbursement, "ReversalIn", path=(*COMMITMENT, "number"))
    IndicatorIn = body_of(commands.SetIndicator, "IndicatorIn", path=PROJECT)
    MeasurementIn = body_of(commands.Measure, "MeasurementIn", path=(*PROJECT, "indicator"))
    ClosureIn = body_of(commands.CloseProject, "ClosureIn", path=PROJECT)
    ConventionIn = body_of(commands.SignConvention, "ConventionIn", server=("convention_id",))
    LinkIn = body_of(commands.LinkToConvention, "LinkIn", path=("convention_id",))
    CorrectionBase = body_of(
        commands.CorrectProject, "ProjectCorrectionBase", path=PROJECT, server=("cleared",)
    )


# Fields of a correction that a null clears (the others are just left as they are).
CLEARABLE = ("name", "territory", "theme", "programme", "estimated_cost")


class ProjectCorrectionIn(CorrectionBase):
    """Correct a project's details; a field sent as null (programme, estimated_cost) is cleared."""

    def cleared(self) -> tuple[str, ...]:
        """The fields sent as an explicit null."""
        return tuple(
            f for f in CLEARABLE if f in self.model_fields_set and getattr(self, f) is None
        )


# The body of each command a client sends (CompleteProject and AbandonProject share one).
BODIES: dict[type[Command], type[Body]] = {
    commands.IdentifyProject: ProjectIn,
    commands.CorrectProject: ProjectCorrectionIn,
    commands.GrantLoan: LoanIn,
    commands.InvestEquity: EquityIn,
    commands.LaunchStudy: StudyIn,
    commands.DeliverStudy: DeliveryIn,
    commands.Disburse: DisbursementIn,
    commands.RecordRepayment: RepaymentIn,
    commands.CancelCommitment: CancellationIn,
    commands.CorrectCommitmentAmount: AmountCorrectionIn,
    commands.VoidCommitment: VoidingIn,
    commands.ReverseDisbursement: ReversalIn,
    commands.ReverseRepayment: ReversalIn,
    commands.VoidProject: ProjectVoidingIn,
    commands.CorrectCommitmentDate: DateCorrectionIn,
    commands.SetIndicator: IndicatorIn,
    commands.Measure: MeasurementIn,
    commands.CompleteProject: ClosureIn,
    commands.AbandonProject: ClosureIn,
    commands.SignConvention: ConventionIn,
    commands.LinkToConvention: LinkIn,
}


def command_of(body: BaseModel, command: type[Command], **path: Any) -> Any:
    """The command a body and its path name; ids the body leaves out are chosen anew."""
    sent = {k: v for k, v in body if not (v is None and k.endswith("_id"))}
    if isinstance(body, ProjectCorrectionIn):
        sent["cleared"] = body.cleared()
    return command(**sent, **path)
