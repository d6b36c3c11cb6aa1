"""What every write needs to know: who writes, the idempotency claim, If-Match."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from pydantic import WithJsonSchema

from api.deps import Writer
from api.exact_json import exact_content, is_utf8, media_type
from api.idempotency import IdempotencyKeyHeader, claim_of
from api.problems import ProblemError
from api.tokens import Principal
from domain.indexes import IdempotencyClaim
from domain.values import Actor

# A correlation id is stored in every event's metadata: keep it short and printable.
REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
# If-Match: 3, "3" or W/"3".
IF_MATCH = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Who writes (with the request id as correlation id), the idempotency claim, If-Match."""

    actor: Actor
    idempotency: IdempotencyClaim | None
    expected_version: int | None = None
    confirm_duplicate: bool = False


def require_media_type(request: Request, *accepted: str) -> None:
    """Refuse (415) a body that is not of the accepted media types, or not in UTF-8."""
    kind, params = media_type(request)
    json_suffix = "application/json" in accepted and kind.endswith("+json")
    if kind not in accepted and not json_suffix:
        raise ProblemError(
            415,
            f"send the body as {' or '.join(accepted)} (Content-Type), not {kind or 'nothing'}",
        )
    if not is_utf8(params):
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


ConfirmDuplicate = Annotated[
    bool,
    Query(
        description="Record the write even though it repeats, field for field, a write of "
        "the last 24 hours to the same project, or an open project's name, territory and "
        "directorate (otherwise 409 possible-duplicate naming the earlier one). Writes with "
        "an Idempotency-Key are not checked.",
    ),
]


async def json_write(
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKeyHeader = None,
    confirm_duplicate: ConfirmDuplicate = False,
) -> WriteContext:
    """A write with a JSON body that creates an aggregate."""
    actor = actor_for(request, principal)
    claim = await claim_of(request, principal, idempotency_key, content=exact_content)
    require_media_type(request, "application/json")
    return WriteContext(actor, claim, confirm_duplicate=confirm_duplicate)


NewWrite = Annotated[WriteContext, Depends(json_write)]


async def versioned_write(
    request: Request,
    principal: Writer,
    idempotency_key: IdempotencyKeyHeader = None,
    if_match: IfMatchHeader = None,
    confirm_duplicate: ConfirmDuplicate = False,
) -> WriteContext:
    """A write with a JSON body on an existing project, optionally conditional on its version."""
    context = await json_write(request, principal, idempotency_key, confirm_duplicate)
    return WriteContext(
        context.actor, context.idempotency, parse_if_match(if_match), confirm_duplicate
    )


Write = Annotated[WriteContext, Depends(versioned_write)]
