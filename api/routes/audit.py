"""The auditor's view of the global log: every event in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from eventsourcing.persistence import MapperDeserialisationError
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.answers.audit import LogEventOut, LogPage
from api.deps import MAX_POSITION, Auditor, LedgerDep
from api.problems import corrupt_event, log_corrupt_event, problem_responses
from domain.application import Ledger
from domain.outcomes import event_data

router = APIRouter(
    prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 403, 500, 503)
)
NDJSON = "application/x-ndjson"
# Pages read from the store while streaming NDJSON.
STREAM_PAGE = 1000


def _events(ledger: Ledger, after: int, limit: int) -> list[LogEventOut]:
    found = []
    for notification in ledger.recorder.select_notifications(start=after + 1, limit=limit):
        event: Any = ledger.mapper.to_domain_event(notification)
        meta = dict(getattr(event, "meta", {}))
        topic = notification.topic
        found.append(
            LogEventOut(
                position=notification.id,
                aggregate_id=str(notification.originator_id),
                aggregate_type=topic.split(":", 1)[1].split(".")[0],
                version=notification.originator_version,
                type=type(event).__name__,
                recorded_at=event.timestamp,
                actor=meta.get("actor") or None,
                directorate=meta.get("directorate") or None,
                correlation_id=meta.get("correlation_id") or None,
                data=shown_data(event),
            )
        )
    return found


def shown_data(event: object) -> dict[str, Any]:
    """An event's own fields as a read shows them: its class's `secret_fields` left out."""
    hidden: frozenset[str] = getattr(type(event), "secret_fields", frozenset())
    return {k: v for k, v in event_data(event).items() if k not in hidden}


@router.get(
    "/events",
    response_model=LogPage,
    responses={
        200: {
            "description": "A page of the log, or with `Accept: application/x-ndjson` "
            "one LogEventOut per line.",
            "content": {NDJSON: {"schema": {"type": "string"}}},
        }
    },
)
def audit_events(
    request: Request,
    ledger: LedgerDep,
    _: Auditor,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Events after this log position.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    """The global log in order (`Accept: application/x-ndjson` streams one event per line)."""
    if NDJSON in request.headers.get("accept", ""):
        # The first page is read before answering: an event that cannot be decoded there is
        # answered as a problem, not as a stream cut after its 200.
        first = _events(ledger, after, min(STREAM_PAGE, limit))
        return StreamingResponse(_stream(ledger, first, limit), media_type=NDJSON)
    events = _events(ledger, after, limit)
    return LogPage(
        events=events,
        next_after=events[-1].position if len(events) == limit else None,
        head=ledger.head_position(),
    )


def _stream(ledger: Ledger, first: list[LogEventOut], limit: int) -> Iterator[bytes]:
    # A later page's undecodable event cuts the stream short (logged, no final chunk): the
    # client sees an incomplete answer, never a shorter log passed off as whole.
    page, sent = first, 0
    while page:
        for event in page:
            yield json.dumps(event.model_dump(mode="json"), ensure_ascii=False).encode() + b"\n"
        sent += len(page)
        if sent >= limit:
            return
        try:
            page = _events(ledger, page[-1].position, min(STREAM_PAGE, limit - sent))
        except MapperDeserialisationError as error:
            named = corrupt_event(error, ledger.recorder)
            if named is None:
                raise
            log_corrupt_event(named)
            raise named from error
