"""The FastAPI application: create_app(settings) builds it; nothing happens at import time."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response

from api import problems
from api.deps import Services
from api.routes import health, projects
from api.settings import Settings
from domain.application import Ledger

log = structlog.get_logger("api.access")


def create_app(settings: Settings | None = None, ledger: Ledger | None = None) -> FastAPI:
    """Build the API on a ledger (one is opened from the settings when not given)."""
    settings = settings or Settings()
    owns_ledger = ledger is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_ledger:
            app.state.services.ledger.close()

    if ledger is None:
        settings.prepare_storage()
        ledger = Ledger(env=settings.ledger_env())
    app = FastAPI(
        title="funding-tracker",
        version="1.0.0",
        description="An event-sourced ledger of the money committed to territorial projects.",
        lifespan=lifespan,
    )
    app.state.services = Services(settings=settings, ledger=ledger)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(projects.router)

    @app.middleware("http")
    async def canonical_log_line(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        finally:
            route = request.scope.get("route")
            principal = getattr(request.state, "principal", None)
            log.info(
                "request",
                method=request.method,
                path=request.url.path,
                route=getattr(route, "path", None),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                actor=principal.name if principal else None,
            )
            structlog.contextvars.clear_contextvars()

    return app
