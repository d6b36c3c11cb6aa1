"""Unknown query parameters refused (422 naming them) on every /v1 route.

A filter the server silently ignores is worse than an error: the caller believes it
applied. What a route accepts is read from what it declares (its FastAPI dependant: its own
query parameters and those of its dependencies), so a new route is covered
without listing its parameters anywhere else. A route that reads some names from the query
string itself (the totals' `<dimension>=value` filters) declares them, with their
descriptions, with an `ExtraQuery`, which the OpenAPI document lists too.

The check is an app-wide dependency, so it runs before the route's own (authentication
included): which parameters a route takes is no secret, the OpenAPI document lists them.

`min_position` is accepted by every read (API.md): a read that does not declare it answers
from the log itself or from reference data, which no projector lags behind, so it holds at
once; a position beyond the log's head is refused there as on every other read (422).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.deps import beyond_head
from api.problems import PROBLEM_RESPONSES, ProblemError

# The routes whose query parameters are checked.
PREFIX = "/v1/"
# Accepted by every read, whether or not the route declares it (see the module's docstring).
ANY_READ = frozenset({"min_position"})


class ExtraQuery:
    """A route's query parameters beyond those it declares one by one.

    `extra = ExtraQuery({"region": "Only this région.", …})`, then in the route's decorator
    `dependencies=[Depends(extra)]` lets those names through and
    `openapi_extra=extra.openapi_extra()` lists them, with their descriptions, in the OpenAPI
    document; the route validates their values itself.
    """

    def __init__(self, described: Mapping[str, str]) -> None:
        self.described = dict(described)
        self.names = frozenset(described)

    def __call__(self) -> None:
        """Nothing to resolve: the names are read from the route's dependant."""

    def openapi_extra(self) -> dict[str, Any]:
        """The operation's OpenAPI additions: these parameters, optional strings."""
        return {
            "parameters": [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": description,
                    "schema": {"type": "string", "title": name.replace("_", " ").title()},
                }
                for name, description in self.described.items()
            ]
        }


def declared_query(dependant: Dependant) -> frozenset[str]:
    """The query parameter names a dependant accepts, its dependencies' included."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(field.alias for field in current.query_params)
        if isinstance(current.call, ExtraQuery):
            names.update(current.call.names)
        pending.extend(current.dependencies)
    return frozenset(names)


def accepted_query(route: APIRoute) -> frozenset[str]:
    """The query parameter names a route accepts (a walk of a few dependants: microseconds)."""
    names = declared_query(route.dependant)
    return names | ANY_READ if "GET" in (route.methods or ()) else names


def unknown_query(route: APIRoute, given: Iterable[str]) -> list[str]:
    """The names among `given` that the route does not accept, in the order given, once each."""
    accepted = accepted_query(route)
    return list(dict.fromkeys(name for name in given if name not in accepted))


def refused(route: APIRoute, unknown: list[str]) -> ProblemError:
    """The 422 naming each unknown parameter and what the route accepts instead."""
    accepted = sorted(accepted_query(route))
    expected = ", ".join(accepted) if accepted else "no query parameters"
    names = ", ".join(unknown)
    return ProblemError(
        422,
        f"unknown query parameter{'s' if len(unknown) > 1 else ''} {names}: "
        f"{route.path} accepts {expected}",
        extra={
            "errors": [
                {"loc": ["query", name], "msg": f"unknown parameter; expected one of: {expected}"}
                for name in unknown
            ]
        },
    )


async def refuse_unknown_query(request: Request) -> None:
    """Refuse a /v1 request naming a query parameter its route does not accept (422)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.path.startswith(PREFIX):
        return
    unknown = unknown_query(route, request.query_params.keys())
    if unknown:
        raise refused(route, unknown)
    if "min_position" in request.query_params and "min_position" not in declared_query(
        route.dependant
    ):
        await refuse_beyond_head(request, request.query_params["min_position"])


async def refuse_beyond_head(request: Request, given: str) -> None:
    """A read answered from the log or reference data holds any position the log holds at
    once; a position beyond the log's head is refused as every other read refuses it."""
    try:
        min_position = int(given)
    except ValueError:
        raise ProblemError(
            422,
            f"min_position {given!r} is not a log position",
            extra={"errors": [{"loc": ["query", "min_position"], "msg": "not an integer"}]},
        ) from None
    ledger = request.app.state.services.ledger
    head: int = await anyio.to_thread.run_sync(ledger.head_position)
    if min_position > head:
        raise beyond_head(min_position, head)


def document(app: FastAPI) -> None:
    """Document the 422 on every /v1 operation: any of them refuses unknown parameters.

    Wraps the app's OpenAPI builder, after `api.problems.document` wrapped it.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()
        for path, operations in spec.get("paths", {}).items():
            if not path.startswith(PREFIX):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "422" not in responses:
                    responses["422"] = copy.deepcopy(PROBLEM_RESPONSES[422])
                    operation["responses"] = dict(sorted(responses.items()))
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
