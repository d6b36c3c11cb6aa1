"""What the auditor's reads answer: events of the global log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LogEventOut(BaseModel):
    """One event of the global log."""

    position: int
    aggregate_id: str
    aggregate_type: str
    version: int
    type: str
    recorded_at: datetime
    actor: str | None
    directorate: str | None
    correlation_id: str | None
    data: dict[str, Any]


class LogPage(BaseModel):
    """A page of the global log; ask for `after=next_after` for the next."""

    events: list[LogEventOut]
    next_after: int | None
    head: int
