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
from starlette.exceptions import HTTPException

from api.deps import Writer
from api.idempotency import IdempotencyKeyHeader, claim_of
from api.problems import ProblemError
from api.tokens import Principal
from domain.indexes import IdempotencyClaim
from domain.values import MAX_NUMBER_TEXT, Actor

# Dates are written one way only, in ASCII digits: 2024-12-31.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A correlation id is stored in every event's metadata: keep it short and printable.
REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
# If-Match: 3, "3" or W/"3".
IF_MATCH = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


# Exact JSON numbers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JSONNumber:
    """A JSON number no field reads as a number: written with an exponent, or too long.

    It is kept as written: a number field refuses its text in the domain's words (422 naming
    the field), any other field refuses it as not of its type.
    """

    text: str

    def __str__(self) -> str:
        return self.text


def _not_json(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _fraction(written: str) -> Decimal | JSONNumber:
    # Money must never pass through a binary float, and 1e-999999999 is no amount.
    if len(written) > MAX_NUMBER_TEXT or "e" in written or "E" in written:
        return JSONNumber(written)
    return Decimal(written)


def _integer(written: str) -> int | JSONNumber:
    return JSONNumber(written) if len(written) > MAX_NUMBER_TEXT else int(written)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            # Last-wins would let a body say two things, each reader hearing one of them.
            raise HTTPException(400, f"the key {key!r} appears twice in one JSON object")
        found[key] = value
    return found


def _utf8(body: bytes, params: dict[str, str]) -> str:
    """The body's text: UTF-8 only (json.loads alone also reads UTF-16 and UTF-32)."""
    if not _is_utf8(params):
        raise HTTPException(415, "send the body in UTF-8")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the body must be UTF-8 JSON") from None
    # UTF-16 and UTF-32 text of ASCII characters is valid UTF-8 holding NUL bytes; JSON text
    # never holds a raw NUL.
    if "\x00" in text:
        raise HTTPException(400, "the body must be UTF-8 JSON")
    # A UTF-8 byte order mark is tolerated, as RFC 8259 allows.
    return text.removeprefix("\ufeff")


class ExactJSONRequest(Request):
    """A request whose JSON body is read strictly: UTF-8, each key once per object, numbers exact.

    Numbers with a fraction are read as exact Decimals, never binary floats; numbers written
    with an exponent or too long are kept as JSONNumber. Errors raise HTTPException, which
    FastAPI passes on as is while it reads the body (a problem+json 400 or 415).
    """

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            text = _utf8(await self.body(), media_type(self)[1])
            self._json = json.loads(
                text,
                parse_float=_fraction,
                parse_int=_integer,
                parse_constant=_not_json,
                object_pairs_hook=_object,
            )
        return self._json


def canonical_json(value: Any) -> bytes:
    """A parsed JSON value written one way: keys sorted, no spaces, numbers as written."""
    parts: list[str] = []
    _write_canonical(value, parts)
    return "".join(parts).encode()


def _write_canonical(value: Any, parts: list[str]) -> None:
    # Appends to one list: a deeply nested body is written in linear time.
    if isinstance(value, dict):
        parts.append("{")
        for i, (key, member) in enumerate(sorted(value.items())):
            parts.append(f"{',' if i else ''}{json.dumps(key)}:")
            _write_canonical(member, parts)
        parts.append("}")
    elif isinstance(value, list):
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            _write_canonical(item, parts)
        parts.append("]")
    elif isinstance(value, Decimal | JSONNumber):
        # As written: str() of a Decimal keeps its digits and exponent (12.50 stays 12.50).
        parts.append(str(value))
    else:
        parts.append(json.dumps(value))


async def exact_content(request: Request) -> bytes:
    """What identifies a write's body: its canonical JSON, so that the same JSON with its keys
    in another order or other spaces is the same request; a body that is not JSON, its bytes."""
    kind, _ = media_type(request)
    if kind != "application/json" and not kind.endswith("+json"):
        return await request.body()
    try:
        return canonical_json(await request.json())
    except (ValueError, RecursionError):
        # Not JSON, or nested too deep to write again: the body model refuses it, and its
        # bytes identify it meanwhile.
        return await request.body()


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
    if not _is_utf8(params):
        raise ProblemError(415, "send the body in UTF-8")


def _is_utf8(params: dict[str, str]) -> bool:
    """Whether a media type's parameters leave the body in UTF-8."""
    return params.get("charset", "utf-8").lower() in ("utf-8", "utf8")


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
    claim = await claim_of(request, principal, idempotency_key, content=exact_content)
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
