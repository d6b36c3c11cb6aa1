"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import metrics
from api.answers.reads import Health
from api.deps import LedgerDep, ReadModelsDep, ServicesDep
from api.problems import ProblemError, problem_responses
from projections.stops import stopped

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problem_responses(503))
def readyz(ledger: LedgerDep, read_models: ReadModelsDep) -> Health:
    """The store answers and no read model is stopped (else 503, naming them): the log head."""
    position = ledger.head_position()
    stops = stopped(read_models)
    if stops:
        raise ProblemError(
            503,
            "; ".join(
                f"read model {s.name} stopped before the event at log position {s.position}: "
                f"{s.reason}"
                for s in stops
            ),
            extra={
                "stopped": [
                    {"read_model": s.name, "position": s.position, "reason": s.reason}
                    for s in stops
                ]
            },
        )
    return Health(status="ready", position=position)


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
def get_metrics(ledger: LedgerDep, read_models: ReadModelsDep, services: ServicesDep) -> Response:
    """Prometheus metrics: requests, latency, events appended, projection lag (and replica's)."""
    body, content_type = metrics.render(ledger, read_models, services.replica)
    return Response(body, media_type=content_type)
