"""Write requests: exact JSON numbers, the request bodies, and what every write needs to know."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from email.message import Message
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainValidator, Strict, WithJsonSchema

from api.deps import Writer
from api.idempotency import IdempotencyKeyHeader, claim_of
from api.problems import ProblemError
from api.tokens import Principal
from domain.indexes import IdempotencyClaim
from domain.values import Actor

# Effective dates are written one way only: 2024-12-31.
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A correlation id is stored in every event's metadata: keep it short and printable.
REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
# If-Match: 3, "3" or W/"3".
IF_MATCH = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


# Exact JSON numbers ---------------------------------------------------------------------------


def _not_json(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


class ExactJSONRequest(Request):
    """A request whose JSON numbers with a fraction or exponent are read as exact Decimals."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            # Money must never pass through a binary float; NaN and Infinity are not JSON.
            self._json = json.loads(body, parse_float=Decimal, parse_constant=_not_json)
        return self._json


class ExactJSONRoute(APIRoute):
    """A route that reads its JSON body with ExactJSONRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact


# Field types ----------------------------------------------------------------------------------


def _number(value: object) -> object:
    """Keep a number exactly as sent; the domain's money() and quantity() judge it."""
    if isinstance(value, bool | Decimal | str):
        # A boolean goes on too: the domain refuses it in its own words.
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # Only a caller that parsed JSON with floats gets here (ExactJSONRequest never does);
        # str() gives the shortest decimal that reads back as the same float.
        return Decimal(str(value))
    raise ValueError('must be a decimal number, as a string like "1234.56" or a JSON number')


def _iso_date(value: object) -> object:
    if isinstance(value, date) or (isinstance(value, str) and ISO_DATE.match(value)):
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
Day = Annotated[date, BeforeValidator(_iso_date)]
Months = Annotated[int, Strict()]


class Body(BaseModel):
    """A write's JSON body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# Bodies ---------------------------------------------------------------------------------------


class ProjectIn(Body):
    """Identify a project."""

    name: str
    territory: str
    theme: str
    directorate: str
    identified_on: Day
    programme: str | None = None
    estimated_cost: Money | None = None
    reference: str | None = None


CLEARABLE = ("name", "territory", "theme", "programme", "estimated_cost")


class ProjectCorrectionIn(Body):
    """Correct a project's details; a field sent as null (programme, estimated_cost) is cleared."""

    reason: str
    name: str | None = None
    territory: str | None = None
    theme: str | None = None
    programme: str | None = None
    estimated_cost: Money | None = None

    def cleared(self) -> tuple[str, ...]:
        """The fields sent as an explicit null."""
        return tuple(
            f for f in CLEARABLE if f in self.model_fields_set and getattr(self, f) is None
        )


class LoanIn(Body):
    """Grant a loan."""

    amount: Money
    granted_on: Day
    duration_months: Months
    rate: Quantity | None = None
    product: str | None = None
    commitment_id: UUID | None = None


class EquityIn(Body):
    """Take an equity stake."""

    amount: Money
    invested_on: Day
    stake_percent: Quantity | None = None
    vehicle: str | None = None
    commitment_id: UUID | None = None


class StudyIn(Body):
    """Launch an engineering study."""

    amount: Money
    launched_on: Day
    subject: str
    provider: str | None = None
    commitment_id: UUID | None = None


class DeliveryIn(Body):
    """Record a study's delivery."""

    delivered_on: Day


class DisbursementIn(Body):
    """Disburse money under a commitment."""

    amount: Money
    disbursed_on: Day


class RepaymentIn(Body):
    """Record principal repaid on a loan."""

    principal: Money
    repaid_on: Day


class CancellationIn(Body):
    """Cancel undisbursed money on a commitment."""

    amount: Money
    cancelled_on: Day
    reason: str


class AmountCorrectionIn(Body):
    """Correct a commitment's recorded amount."""

    amount: Money
    reason: str


class IndicatorIn(Body):
    """Set an impact indicator."""

    indicator: str
    unit: str
    target: Quantity
    due_on: Day
    baseline: Quantity | None = None


class MeasurementIn(Body):
    """Record a measure of an impact indicator."""

    value: Quantity
    measured_on: Day


class ClosureIn(Body):
    """Close a project (completed or abandoned)."""

    on: Day
    reason: str | None = None


class ConventionIn(Body):
    """Sign a partnership convention."""

    title: str
    directorate: str
    signatories: list[str]
    themes: list[str]
    signed_on: Day
    ends_on: Day | None = None
    envelope: Money | None = None


class LinkIn(Body):
    """Place a project under a convention."""

    project_id: UUID


# What every write needs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Who writes (with the request id as correlation id), the idempotency claim, If-Match."""

    actor: Actor
    idempotency: IdempotencyClaim | None
    expected_version: int | None = None


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """Return the request's media type (lower case) and its parameters."""
    message = Message()
    message["content-type"] = request.headers.get("content-type", "")
    params = {k.lower(): v for k, v in message.get_params(failobj=[])[1:]}
    return message.get_content_type() if message["content-type"] else "", params


def require_media_type(request: Request, *accepted: str) -> None:
    """Refuse (415) a body that is not of the accepted media types, or not in UTF-8."""
    kind, params = media_type(request)
    json_suffix = "application/json" in accepted and kind.endswith("+json")
    if kind not in accepted and not json_suffix:
        raise ProblemError(
            415,
            f"send the body as {' or '.join(accepted)} (Content-Type), not {kind or 'nothing'}",
        )
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise ProblemError(415, "send the body in UTF-8")


def actor_for(request: Request, principal: Principal) -> Actor:
    """The domain actor of a writing principal; the request id becomes the correlation id."""
    request_id: str = request.state.request_id
    if not REQUEST_ID.match(request_id):
        raise ProblemError(400, "X-Request-ID must be 1 to 128 visible ASCII characters")
    return principal.actor(correlation_id=request_id)


async def actor_of(request: Request, principal: Writer) -> Actor:
    """The domain actor of a writing principal, as a dependency."""
    return actor_for(request, principal)


ActorDep = Annotated[Actor, Depends(actor_of)]


def parse_if_match(value: str | None) -> int | None:
    """Return the version an If-Match header asks for (None without one, or for *)."""
    if value is None or value.strip() == "*":
        return None
    found = IF_MATCH.match(value.strip())
    if found is None:
        raise ProblemError(400, f'If-Match must be a project version, like "3", not {value!r}')
    return int(found.group(1))


IfMatchHeader = Annotated[
    str | None,
    # Documented as what it must match: the app, not FastAPI, refuses the rest (400).
    WithJsonSchema({"type": "string", "pattern": IF_MATCH.pattern}),
    Header(
        description='Apply only if the project is at this version: 3, "3" or W/"3".',
    ),
]


# One dependency per kind of write (each nested one costs every request): the checks run
# in this order, after the token's and the role's.


async def json_write(
    request: Request, principal: Writer, idempotency_key: IdempotencyKeyHeader = None
) -> WriteContext:
    """A write with a JSON body that creates an aggregate."""
    actor = actor_for(request, principal)
    claim = await claim_of(request, principal, idempotency_key)
    require_media_type(request, "application/json")
    return WriteContext(actor, claim)


NewWrite = Annotated[WriteContext, Depends(json_write)]


async def versioned_write(
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKeyHeader = None,
    if_match: IfMatchHeader = None,
) -> WriteContext:
    """A write with a JSON body on an existing project, optionally conditional on its version."""
    context = await json_write(request, principal, idempotency_key)
    return WriteContext(context.actor, context.idempotency, parse_if_match(if_match))


Write = Annotated[WriteContext, Depends(versioned_write)]
