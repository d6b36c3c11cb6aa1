"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import metrics
from api.deps import LedgerDep, ReadModelsDep
from api.problems import problem_responses
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problem_responses(503))
def readyz(ledger: LedgerDep) -> Health:
    """The store answers (503 otherwise): the position of the last event."""
    return Health(status="ready", position=ledger.head_position())


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **problem_responses(503),
    },
)
def get_metrics(ledger: LedgerDep, read_models: ReadModelsDep) -> Response:
    """Prometheus metrics: requests, latency, events appended, projection lag."""
    body, content_type = metrics.render(ledger, read_models)
    return Response(body, media_type=content_type)
