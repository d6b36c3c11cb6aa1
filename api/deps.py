"""Request dependencies: the ledger, the caller's principal and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from api.problems import ProblemError
from api.settings import Settings
from api.tokens import Authenticator, Principal, Role, bearer_token
from domain.application import Ledger
from projections.db import ReadModelDatabase
from projections.projector import wait_for_position

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


def fresh(request: Request, min_position: int | None) -> None:
    """Read-your-writes: wait until the read models reach `min_position`, else 503."""
    if min_position is None or min_position == 0:
        return
    services: Services = request.app.state.services
    reached = wait_for_position(
        services.read_models, min_position, services.settings.read_wait_timeout
    )
    if reached < min_position:
        raise ProblemError(
            503,
            f"the read models are at position {reached}, not yet {min_position}; try again",
            headers={"Retry-After": "1"},
            extra={"position": reached},
        )


async def get_principal(request: Request, services: ServicesDep) -> Principal:
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
