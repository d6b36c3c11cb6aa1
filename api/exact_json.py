"""Exact JSON: request bodies read as UTF-8, each key once per object, numbers never floats."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from domain.values import MAX_NUMBER_TEXT


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
    if not is_utf8(params):
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


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """Return the request's media type (lower case) and its parameters."""
    message = Message()
    message["content-type"] = request.headers.get("content-type", "")
    params = {k.lower(): v for k, v in message.get_params(failobj=[])[1:]}
    return message.get_content_type() if message["content-type"] else "", params


def is_utf8(params: dict[str, str]) -> bool:
    """Whether a media type's parameters leave the body in UTF-8."""
    return params.get("charset", "utf-8").lower() in ("utf-8", "utf8")
