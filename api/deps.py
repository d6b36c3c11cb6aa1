"""Request dependencies: the ledger, the caller's principal and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ProblemError
from api.settings import Settings
from api.tokens import Authenticator, Principal, bearer_token
from domain.application import Ledger
from domain.tokens import Role
from projections.db import ReadModelDatabase
from projections.live import LiveStates
from projections.replica import ReplicaStates

ANONYMOUS_VIEWER = Principal(name="anonymous", role=Role.VIEWER)
# Log positions and versions are 64-bit integers in the store: a larger one in a query is
# refused (422), not handed to the driver to overflow (500); `after` + 1 must fit too.
MAX_POSITION = 2**63 - 2


@dataclass
class Services:
    """What the routes use, built once by create_app."""

    settings: Settings
    ledger: Ledger
    read_models: ReadModelDatabase
    # A streaming replica for read-model queries (FUNDING_READ_DATABASE_URL), if any.
    replica: ReplicaStates | None = None
    authenticate: Authenticator = field(init=False)

    def __post_init__(self) -> None:
        self.authenticate = Authenticator(self.ledger)


async def get_services(request: Request) -> Services:
    """Return the app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_ledger(services: ServicesDep) -> Ledger:
    """Return the ledger application."""
    return services.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


async def get_read_models(services: ServicesDep) -> ReadModelDatabase:
    """Return the read models' database."""
    return services.read_models


ReadModelsDep = Annotated[ReadModelDatabase, Depends(get_read_models)]


MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_POSITION,
        description="Answer only once the read models reached this log position (waiting "
        "up to FUNDING_READ_WAIT_TIMEOUT, then 503 with the `position` reached); a position "
        "beyond the log's head is refused at once (422, with the `head`).",
    ),
]


def beyond_head(min_position: int, head: int) -> ProblemError:
    """The refusal of a position no write has been given yet: it would never be reached."""
    return ProblemError(
        422,
        f"min_position {min_position} is beyond the log's head, position {head}: "
        "ask for a position a write answered",
        extra={
            "head": head,
            "errors": [{"loc": ["query", "min_position"], "msg": f"beyond the head {head}"}],
        },
    )


async def fresh(
    request: Request, services: ServicesDep, min_position: MinPosition = None
) -> int | None:
    """Read-your-writes: wait until the read models reach `min_position`, else 503.

    The wait runs in the event loop before the route does, holding no worker thread; a
    position no write has been given yet is refused at once.
    """
    if min_position:
        await reach_position(request, services, min_position, services.settings.read_wait_timeout)
    return min_position


async def reach_position(
    request: Request, services: Services, min_position: int, timeout: float
) -> None:
    """Wait up to `timeout` s until the primary's read models reach `min_position`, else 503;
    a position beyond the log's head is refused at once (422)."""
    states: LiveStates = request.app.state.live_states
    reached = await states.reach(min_position, timeout=0)
    if reached >= min_position:
        return
    head = await anyio.to_thread.run_sync(services.ledger.head_position)
    if min_position > head:
        raise beyond_head(min_position, head)
    reached = await states.reach(min_position, timeout=timeout)
    if reached < min_position:
        raise ProblemError(
            503,
            f"the read models are at position {reached}, not yet {min_position}; try again",
            headers={"Retry-After": "1"},
            extra={"position": reached},
        )


# A read that accepts `min_position`: the value, once the read models have reached it.
Fresh = Annotated[int | None, Depends(fresh)]


# Declares the bearer scheme in the OpenAPI document (the Authorize button of /docs) on every
# operation that authenticates; it refuses nothing itself: get_principal reads the header.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="A token made with `funding tokens create`; its role decides what it may do.",
    auto_error=False,
)


async def get_principal(
    request: Request,
    services: ServicesDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    """Authenticate the bearer token (or fall back to public read, when enabled)."""
    header = request.headers.get("authorization")
    if header is None:
        if services.settings.public_read:
            return ANONYMOUS_VIEWER
        raise ProblemError(
            401, "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    presented = bearer_token(header)
    principal = None if presented is None else await services.authenticate.check(presented)
    if principal is None:
        raise ProblemError(
            401,
            "the token is unknown or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency letting through only the given roles."""

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise ProblemError(403, f"the {principal.role} role may not do this")
        return principal

    return check


READERS = (Role.ADMIN, Role.DIRECTORATE, Role.AUDITOR, Role.VIEWER)
EVENT_READERS = (Role.ADMIN, Role.DIRECTORATE, Role.AUDITOR)
AUDITORS = (Role.ADMIN, Role.AUDITOR)
WRITERS = (Role.ADMIN, Role.DIRECTORATE)

Reader = Annotated[Principal, Depends(require(*READERS))]
EventReader = Annotated[Principal, Depends(require(*EVENT_READERS))]
Auditor = Annotated[Principal, Depends(require(*AUDITORS))]
Writer = Annotated[Principal, Depends(require(*WRITERS))]
