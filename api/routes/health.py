"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import LedgerDep
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(ledger: LedgerDep) -> Health:
    """The store answers (503 otherwise): the position of the last event."""
    return Health(status="ready", position=ledger.head_position())
