"""Errors as RFC 9457 problem+json, mapped once for the whole API."""

from __future__ import annotations

import copy
import sqlite3
from contextlib import suppress
from typing import Any
from uuid import UUID

import psycopg
import structlog
from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    MapperDeserialisationError,
    Notification,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.utils import TopicError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.suggestions import explained
from domain.errors import (
    BusinessRuleError,
    CorruptEventError,
    DomainError,
    InvalidValueError,
    NotFoundError,
    OutOfScopeError,
    PossibleDuplicateError,
    UnknownCodeError,
    VersionMismatchError,
)
from domain.positions import require_positions
from eventstore.postgres import WriteOutcomeUnknownError

PROBLEM = "application/problem+json"
PROBLEM_TYPES = "https://funding-tracker.example/problems/"
PROBLEM_REF = "#/components/schemas/Problem"
log = structlog.get_logger("api")

TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Business rule broken",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid field",
    500: "Stored event cannot be decoded",
    503: "Store unavailable",
}
# A problem whose type is more precise than its status: (status, title).
KINDS = {
    "corrupt-event": (500, "Stored event cannot be decoded"),
    "outcome-unknown": (503, "Write outcome unknown"),
    "possible-duplicate": (409, "Possible duplicate"),
}


class FieldError(BaseModel):
    """Where a request is wrong (`["body", "amount"]`, `["query", "limit"]`), and why."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem; some carry more members (a 503 its `position`, an import its rows)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def _header(description: str, schema: dict[str, str]) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": schema}


# The OpenAPI response of each problem status, built once: see problem_responses and document.
PROBLEM_RESPONSES: dict[int, dict[str, Any]] = {
    status: {
        "description": title,
        "content": {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}},
    }
    for status, title in TITLES.items()
}
PROBLEM_RESPONSES[401]["headers"] = {
    "WWW-Authenticate": _header("How to authenticate: Bearer.", {"type": "string"})
}
PROBLEM_RESPONSES[503]["headers"] = {
    "Retry-After": _header("Seconds to wait before trying again.", {"type": "integer"})
}
# Answered by any operation: a malformed request (Content-Length, JSON, a header), a body
# over the size limit.
ANY_OPERATION = (400, 413)
# Answered by any write: a business rule broken or an Idempotency-Key reused with another body
# (409), a body of another media type (415).
ANY_WRITE = (409, 415)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of problems a router (or route) answers beyond what `document`
    reads from the operation itself: 401/403 (its roles), 503 (it uses the store)."""
    return {status: copy.deepcopy(PROBLEM_RESPONSES[status]) for status in statuses}


def _operation_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The problems an operation answers by its shape: method, parameters, body."""
    statuses = set(ANY_OPERATION)
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    if any(p["in"] == "header" and p["name"].lower() == "if-match" for p in parameters):
        statuses.add(412)
    if method == "post":
        statuses.update(ANY_WRITE)
    return statuses


def document(app: FastAPI) -> None:
    """Document the problems every operation answers, all with the Problem schema.

    FastAPI's own 422 (HTTPValidationError) is replaced: validation errors answer a problem.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()  # FastAPI keeps this very dict as app.openapi_schema
        for operations in spec.get("paths", {}).values():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for status in _operation_statuses(method, operation):
                    if PROBLEM not in responses.get(str(status), {}).get("content", {}):
                        responses[str(status)] = copy.deepcopy(PROBLEM_RESPONSES[status])
                operation["responses"] = dict(sorted(responses.items()))
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


class ProblemError(Exception):
    """An error raised by the API layer itself (auth, preconditions, body size)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}
        self.kind = kind


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    kind: str | None = None,
) -> JSONResponse:
    """Return a problem+json response (of type `kind`, one of KINDS, when given)."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPES}{kind or status}",
        "title": KINDS[kind][1] if kind else TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def domain_status(error: DomainError) -> int:
    """The HTTP status of a domain refusal."""
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, OutOfScopeError):
        return 403
    if isinstance(error, VersionMismatchError):
        return 412
    if isinstance(error, InvalidValueError):
        return 422
    if isinstance(error, BusinessRuleError):
        return 409
    return 409


def damaged_stored_event(error: BaseException) -> StoredEvent | None:
    """The stored event the library's mapper failed to decode, from the error's traceback.

    The library raises from `Mapper.to_domain_event(stored_event)` with the event's identity
    only in its message; the innermost frame holding a `stored_event` is that very call.
    """
    found = None
    trace = error.__traceback__
    while trace is not None:
        candidate = trace.tb_frame.f_locals.get("stored_event")
        if isinstance(candidate, StoredEvent):
            found = candidate
        trace = trace.tb_next
    return found


def corrupt_event(error: Exception, recorder: ApplicationRecorder) -> CorruptEventError | None:
    """Name the event behind a decoding failure, with its log position (None if not found)."""
    stored = damaged_stored_event(error)
    if stored is None:
        return None
    cause = error.__cause__ or error
    reason = (
        f"unknown topic {stored.topic!r}"
        if isinstance(error, TopicError)
        else f"{type(cause).__name__}: {cause}"
    )
    position = stored.id if isinstance(stored, Notification) else None
    if position is None:
        # Events read by aggregate carry no position: ask the log for it.
        with suppress(Exception):
            positions = require_positions(recorder).event_positions(UUID(str(stored.originator_id)))
            position = positions.get(stored.originator_version)
    return CorruptEventError(position, stored.originator_id, stored.originator_version, reason)


def log_corrupt_event(error: CorruptEventError) -> None:
    """Log a damaged event with its log position, for the operator who repairs it."""
    log.error(
        "corrupt_event",
        position=error.position,
        aggregate_id=error.originator_id,
        version=error.version,
        reason=error.reason,
    )


def corrupt_event_problem(error: CorruptEventError) -> JSONResponse:
    """A damaged event as a 500: the server's stored data is at fault, not the request."""
    log_corrupt_event(error)
    return problem(
        500,
        f"{error}. The store is damaged (not the request): retrying will not help until an "
        "operator repairs this event; nothing was recorded by this request.",
        kind="corrupt-event",
        extra={
            "position": error.position,
            "aggregate_id": error.originator_id,
            "version": error.version,
        },
    )


def is_query(request: Request, field: str) -> bool:
    """Whether a refused field came in the query: a read has no body."""
    return request.method in ("GET", "HEAD") or field in request.query_params


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(ProblemError)
    async def _api_problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.detail, headers=exc.headers, extra=exc.extra, kind=exc.kind)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        errors = None
        detail, extra = exc.detail, None
        if isinstance(exc, UnknownCodeError):
            # What the user most likely meant, and the valid codes where they are few.
            detail, extra = explained(exc)
        if isinstance(exc, InvalidValueError):
            # A read's filters and a write's query parameters are in the query, not a body.
            where = "query" if is_query(request, exc.field) else "body"
            errors = [{"loc": [where, exc.field], "msg": detail}]
        if isinstance(exc, PossibleDuplicateError):
            # The earlier write, named, so the caller can look before confirming.
            return problem(409, detail, extra={"earlier": exc.earlier}, kind="possible-duplicate")
        return problem(domain_status(exc), detail, errors=errors, extra=extra)

    @app.exception_handler(CorruptEventError)
    async def _corrupt(_: Request, exc: CorruptEventError) -> JSONResponse:
        return corrupt_event_problem(exc)

    async def _undecodable(request: Request, exc: Exception) -> JSONResponse:
        recorder = request.app.state.services.ledger.recorder
        named = await run_in_threadpool(corrupt_event, exc, recorder)
        if named is None:
            if isinstance(exc, TopicError):
                raise exc  # not about a stored event: the server error it is
            log.error("corrupt_event", error=str(exc))
            return problem(500, str(exc), kind="corrupt-event")
        return corrupt_event_problem(named)

    app.add_exception_handler(MapperDeserialisationError, _undecodable)
    app.add_exception_handler(TopicError, _undecodable)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem(400, "the body is not valid JSON", errors=errors)
        return problem(422, "some fields are invalid", errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("store_unavailable", error=str(exc), error_type=type(exc).__name__)
        return problem(
            503,
            "the event store is unreachable; nothing was recorded, try again shortly",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(WriteOutcomeUnknownError)
    async def _outcome_unknown(_: Request, exc: WriteOutcomeUnknownError) -> JSONResponse:
        # The one store failure after which "nothing was recorded" would not be true.
        log.error("write_outcome_unknown", error=str(exc))
        return problem(
            503,
            "the event store stopped answering after this write was sent to be recorded: it "
            "may have been recorded. Read the project before sending it again, or send it "
            "again with the same Idempotency-Key",
            headers={"Retry-After": "2"},
            kind="outcome-unknown",
        )

    for kind in (
        OperationalError,
        InterfaceError,
        PersistenceError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
        sqlite3.OperationalError,
        TimeoutError,
        ConnectionError,
    ):
        app.add_exception_handler(kind, _unavailable)
