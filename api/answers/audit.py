"""What the auditor's reads answer: events of the global log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class LogEventOut(BaseModel):
    """One event of the global log."""

    position: int
    leaf_index: int | None = Field(
        description="The event's leaf in the log's Merkle tree (0, 1, 2… in log order); "
        "null only if the stored tree lacks it (`funding verify` says why)."
    )
    leaf_hash: str | None = Field(
        description="SHA-256 leaf hash (hex) over position, aggregate id, version, topic "
        "and stored bytes (RFC 9162 §2.1)."
    )
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
    next_after: int | None = Field(
        description="Ask again with after=next_after for more; null when the log's head "
        "was reached. A filtered page may hold fewer events than `limit`, even none, and "
        "still have a next_after: each request looks at a bounded window of the log."
    )
    head: int
