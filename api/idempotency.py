"""Idempotency keys: a client's key, scoped to its token's name, with a fingerprint of the request.

The ledger saves a record of the outcome under the key in the same transaction as the write;
the same key with the same request is answered from it, with another request refused (409).
The fingerprint is only ever compared for equality with the one stored under the key (kept
24 h), so its form may change between releases.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Header, Request
from pydantic import WithJsonSchema

from api.deps import Writer
from api.problems import ProblemError
from api.tokens import Principal
from domain.indexes import IdempotencyClaim

KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """Return the SHA-256 of what identifies a request: method, path, query and body content.

    `body` is what identifies the body: the canonical form of a JSON body (the same JSON with
    its keys in another order is the same request), the bytes of a CSV file.
    """
    # The query's parameters are sorted: their order says nothing about the request.
    target = f"{method.upper()} {path}?{urlencode(sorted(parse_qsl(query)))}\n"
    return hashlib.sha256(target.encode() + body).hexdigest()


# The Idempotency-Key header, documented as what it must match: the app, not FastAPI,
# refuses the rest (400).
IdempotencyKeyHeader = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "pattern": KEY.pattern}),
    Header(
        description="Send the request again with the same key: it is recorded once and "
        "answered with the first response (1 to 255 visible ASCII characters).",
    ),
]


async def raw_content(request: Request) -> bytes:
    """A body identified by its bytes (a CSV file)."""
    return await request.body()


async def claim_of(
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
    content: Callable[[Request], Awaitable[bytes]] = raw_content,
) -> IdempotencyClaim | None:
    """The caller's idempotency claim, when it sent an Idempotency-Key (400 if malformed);
    `content` gives what identifies the request's body."""
    if idempotency_key is None:
        return None
    if not KEY.match(idempotency_key):
        raise ProblemError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters")
    body = await content(request)
    return IdempotencyClaim(
        scope=principal.name,
        key=idempotency_key,
        fingerprint=fingerprint(request.method, request.url.path, request.url.query, body),
    )


async def idempotency_claim(
    request: Request, principal: Writer, idempotency_key: IdempotencyKeyHeader = None
) -> IdempotencyClaim | None:
    """The caller's idempotency claim, as a dependency."""
    return await claim_of(request, principal, idempotency_key)


IdempotencyDep = Annotated[IdempotencyClaim | None, Depends(idempotency_claim)]
