"""The auditor's view of the global log (every event in order, filtered) and its exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from typing import Annotated, Any
from uuid import UUID

import structlog
from eventsourcing.persistence import MapperDeserialisationError
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.answers.audit import LogEventOut, LogPage
from api.audit_keys import AuditKeyError, cached_keyring
from api.audit_log import SCAN_WINDOW, LogFilter, Scan, window
from api.deps import MAX_POSITION, Auditor, LedgerDep, ServicesDep, beyond_head
from api.exports.iati import iati_chunks
from api.exports.log import Snapshot, csv_chunks, ndjson_chunks
from api.exports.publisher import Publisher
from api.exports.scdl import scdl_chunks
from api.problems import ProblemError, corrupt_event, log_corrupt_event, problem_responses
from domain.application import Ledger

router = APIRouter(
    prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 403, 500, 503)
)
NDJSON = "application/x-ndjson"
log = structlog.get_logger("api")
# Each export's media type and file name.
EXPORTS = {
    "ndjson": (NDJSON, "funding-log.ndjson"),
    "csv": ("text/csv; charset=utf-8", "funding-log.csv"),
    "iati": ("application/xml", "funding-iati-activities.xml"),
    "scdl": ("text/csv; charset=utf-8", "funding-scdl-subventions.csv"),
}
# Events of a stream read (and decoded) before it is answered.
STREAM_PAGE = 1000

EVENTS_DESCRIPTION = f"""The global log in order, each event with its Merkle leaf (`leaf_index`,
`leaf_hash`); `Accept: application/x-ndjson` streams one event per line.

Filters: `actor`, `directorate` (as each event's metadata records them), `type` (event class
names, repeated or comma-separated), `aggregate_id`, `recorded_from`/`recorded_to` (ISO
timestamps with zone; a date alone is that day in Europe/Paris: `recorded_from` its first
instant, `recorded_to` its last). All given filters apply together.

Paging: a request looks at a bounded window of the log, the {SCAN_WINDOW:,} positions after
`after` (with `aggregate_id`: that aggregate's next {SCAN_WINDOW:,} events), and answers the
events of that window that match, at most `limit`. A sparse filter may answer fewer events,
even none: carry on with `after=next_after` until `next_after` is null (the log's head was
reached). In NDJSON the same holds: the `X-Next-After` header gives the window's end
(absent when it reaches the head); a stream of `limit` lines carries on after its last
line's `position` instead.
"""


@router.get(
    "/events",
    response_model=LogPage,
    description=EVENTS_DESCRIPTION,
    responses={
        200: {
            "description": "A page of the log, or with `Accept: application/x-ndjson` "
            "one LogEventOut per line.",
            "content": {NDJSON: {"schema": {"type": "string"}}},
            "headers": {
                "X-Next-After": {
                    "description": "NDJSON: where the next request carries on when the "
                    "stream holds fewer than `limit` lines (absent: the head was reached).",
                    "schema": {"type": "integer"},
                }
            },
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
    limit: Annotated[int, Query(ge=1, le=SCAN_WINDOW)] = 1000,
    actor: Annotated[str | None, Query(max_length=200, description="Who wrote.")] = None,
    directorate: Annotated[
        str | None, Query(max_length=100, description="The writer's directorate code.")
    ] = None,
    event_type: Annotated[
        list[str],
        Query(alias="type", max_length=2000, description="Event class names, e.g. LoanGranted."),
    ] = [],  # noqa: B006 - FastAPI copies the default for each request
    aggregate_id: Annotated[UUID | None, Query(description="One aggregate's events.")] = None,
    recorded_from: Annotated[
        str | None, Query(max_length=64, description="Timestamp with zone, or a date.")
    ] = None,
    recorded_to: Annotated[
        str | None, Query(max_length=64, description="Timestamp with zone, or a date.")
    ] = None,
    min_position: Annotated[
        int | None,
        Query(ge=0, le=MAX_POSITION, description="Refused (422) only beyond the log's head."),
    ] = None,
) -> Any:
    log_filter = LogFilter.parse(
        actor=actor,
        directorate=directorate,
        types=event_type,
        aggregate_id=aggregate_id,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
    )
    win = window(ledger, after, log_filter)
    if min_position and min_position > win.head:
        raise beyond_head(min_position, win.head)
    scan = Scan(ledger, win, log_filter)
    events = iter(scan)
    if NDJSON in request.headers.get("accept", ""):
        # The first page is read before answering: an event that cannot be decoded there is
        # answered as a problem, not as a stream cut after its 200.
        first = list(islice(events, min(STREAM_PAGE, limit)))
        headers = {} if win.through >= win.head else {"X-Next-After": str(win.through)}
        return StreamingResponse(
            _stream(ledger, first, events, limit), media_type=NDJSON, headers=headers
        )
    page = list(islice(events, limit))
    return LogPage(events=page, next_after=scan.next_after(len(page) == limit), head=win.head)


def _stream(
    ledger: Ledger, first: list[LogEventOut], rest: Iterator[LogEventOut], limit: int
) -> Iterator[bytes]:
    # A later undecodable event cuts the stream short (logged, no final chunk): the client
    # sees an incomplete answer, never a shorter log passed off as whole.
    for event in first:
        yield _line(event)
    try:
        for event in islice(rest, limit - len(first)):
            yield _line(event)
    except MapperDeserialisationError as error:
        named = corrupt_event(error, ledger.recorder)
        if named is None:
            raise
        log_corrupt_event(named)
        raise named from error


def _line(event: LogEventOut) -> bytes:
    return json.dumps(event.model_dump(mode="json"), ensure_ascii=False).encode() + b"\n"


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export, streamed as a file (Content-Disposition names it).",
            "content": {
                NDJSON: {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/xml": {"schema": {"type": "string"}},
            },
            "headers": {
                "Content-Disposition": {
                    "description": "attachment; filename=…",
                    "schema": {"type": "string"},
                }
            },
        }
    },
)
def audit_export(
    services: ServicesDep,
    ledger: LedgerDep,
    _: Auditor,
    output_format: Annotated[
        str,
        Query(
            alias="format",
            pattern="^(ndjson|csv|iati|scdl)$",
            description="ndjson (the log, restorable with `funding import-log`), csv (the "
            "log for a spreadsheet), iati (IATI 2.03 activities), scdl (SCDL subventions).",
        ),
    ],
    sep: Annotated[
        str, Query(pattern="^[,;]$", description="The log's CSV separator (`;`: French).")
    ] = ",",
) -> StreamingResponse:
    """The standard exports, streamed in constant memory (docs/exports.md describes each).

    `ndjson`: one line per event (position, leaf, aggregate, version, topic, type, recording
    time, actor, data and the stored bytes in base64), then the tree head it ends at, signed
    when the server has a signing key. `csv`: a row per event; `sep=;` writes decimal commas
    and a UTF-8 BOM for a French spreadsheet.
    """
    media_type, filename = EXPORTS[output_format]
    settings = services.settings
    if output_format in ("ndjson", "csv"):
        # Read before answering: a damaged tree or key is a problem, not a cut stream.
        snapshot = Snapshot.now(ledger)
        if output_format == "ndjson":
            try:
                ring = cached_keyring(settings.audit_key_file, settings.audit_public_keys)
            except AuditKeyError as error:
                log.error("audit_key_unusable", reason=str(error))
                raise ProblemError(
                    500, "the tree-head signing key cannot be used: the server's log says why"
                ) from None
            chunks = ndjson_chunks(ledger, snapshot, ring)
        else:
            chunks = csv_chunks(ledger, snapshot, sep)
    else:
        publisher = Publisher.from_settings(settings)
        build = iati_chunks if output_format == "iati" else scdl_chunks
        chunks = build(ledger, publisher=publisher)
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
