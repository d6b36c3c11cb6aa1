"""The FastAPI application: create_app(settings) builds it; nothing happens at import time."""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import docs_page, metrics, problems, query_params
from api.cache import AnswerCache, CachedTotals
from api.dashboard import router as dashboard
from api.deps import Services
from api.logging import configure_logging
from api.read_source import open_replica
from api.routes import asat, audit, health, imports, projects, proofs, reads, writes
from api.settings import Settings
from domain.application import Ledger
from domain.reference.territories import load_territories
from projections.asat import AsAtReports
from projections.db import ReadModelDatabase
from projections.live import LiveStates

log = structlog.get_logger("api.access")


class BodyLimit:
    """Refuses a request body over a size (413) before the app sees any of it.

    The declared Content-Length is checked first; then the bytes are counted as they arrive
    (a chunked body declares nothing), and the body, once known to fit, is handed on whole.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit():
            await problems.problem(400, "Content-Length must be a number")(scope, receive, send)
            return
        if int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # the client went away: let the app see it
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending: list[Message] = [
            first or {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        ]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem(
            413, f"the request body must be at most {self.max_bytes} bytes; nothing was recorded"
        )
        await response(scope, receive, send)


class CanonicalLogLine:
    """One JSON log line and the request metrics per request; the X-Request-ID header.

    A plain ASGI middleware: the request's id is bound to the log context for the routes,
    and the answer's status read from the response as it starts.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            # The route template, not the path: ids would make unbounded metric labels.
            state = scope["state"]
            route = getattr(scope.get("route"), "path", None) or state.get("route") or "unmatched"
            principal = state.get("principal")
            method = scope["method"]
            metrics.REQUESTS.labels(method, route, str(status)).inc()
            metrics.LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "request",
                method=method,
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                actor=principal.name if principal else None,
            )
            structlog.contextvars.clear_contextvars()


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID (checked where it is used), else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return bytes(value).decode("latin-1")
    return uuid.uuid4().hex


# Allocations of tracked objects between two collections of the youngest generation.
GC_YOUNG_THRESHOLD = 20_000


def app_factory() -> FastAPI:
    """The app as a server process builds it: settings from the environment, logging set."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    settle_heap()
    return app


def settle_heap() -> None:
    """Keep the garbage collector off what lives as long as the process.

    The modules, the territory reference and the app are frozen out of every collection
    (a full one otherwise walks them all, tens of milliseconds on a worker serving
    requests), and the youngest generation is collected less often: a request allocates
    thousands of short-lived objects.
    """
    load_territories()
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, old)


def create_app(
    settings: Settings | None = None,
    ledger: Ledger | None = None,
    read_models: ReadModelDatabase | None = None,
) -> FastAPI:
    """Build the API on a ledger and its read models (opened from the settings if not given)."""
    settings = settings or Settings()
    owns_ledger = ledger is None
    owns_read_models = read_models is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.services.authenticate.open()
        yield
        await app.state.services.authenticate.close()
        app.state.live_states.stop()
        if replica is not None:
            replica.stop()
            replica.db.close()
        if owns_ledger:
            app.state.services.ledger.close()
        if owns_read_models:
            app.state.services.read_models.close()

    if ledger is None:
        settings.prepare_storage()
        ledger = Ledger(env=settings.ledger_env())
    if read_models is None:
        read_models = ReadModelDatabase.from_url(settings.database_url, settings.reporting_schema)
    app = FastAPI(
        title="funding-tracker",
        version="1.0.0",
        description="An event-sourced ledger of the money committed to territorial projects.",
        lifespan=lifespan,
        # /docs is served by api.docs_page, offline; no ReDoc.
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(query_params.refuse_unknown_query)],
    )
    replica = open_replica(settings)
    app.state.services = Services(
        settings=settings, ledger=ledger, read_models=read_models, replica=replica
    )
    app.state.totals_cache = AnswerCache(settings.answer_cache_bytes)
    app.state.live_states = LiveStates(read_models)
    app.state.asat_reports = AsAtReports(wait=settings.read_wait_timeout)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(projects.router)
    app.include_router(reads.router)
    app.include_router(audit.router)
    app.include_router(asat.router)
    app.include_router(proofs.router)
    app.include_router(writes.router)
    app.include_router(imports.router)
    app.include_router(docs_page.router)
    app.include_router(dashboard.router)
    problems.document(app)
    query_params.document(app)
    # Added before the logging middleware, so it runs inside it: a 413 is logged too.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CachedTotals,
        cache=app.state.totals_cache,
        states=app.state.live_states,
        authenticate=app.state.services.authenticate,
        public_read=settings.public_read,
    )

    # Outermost: every answer, a 413 or an unmatched path included, is logged and counted.
    app.add_middleware(CanonicalLogLine)
    return app
