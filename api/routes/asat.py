"""The portfolio as at a past time, for auditors: totals of the events recorded up to it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api.answers.asat import AsAtTotalsOut
from api.deps import MAX_POSITION, Auditor, LedgerDep, Services, beyond_head
from api.problems import ProblemError, problem_responses
from api.routes.reads import (
    TOTALS_FILTERS,
    TOTALS_PARAMS,
    DateFrom,
    DateTo,
    Output,
    totals_csv,
)
from domain.errors import InvalidValueError
from projections import reading
from projections.asat import AsAtBusyError, AsAtReports, Question, parse_as_at
from projections.totals import labels as totals_labels

router = APIRouter(
    prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 403, 500, 503)
)
ASAT_PARAMS = TOTALS_PARAMS | {"as_at"}


def as_at_instant(text: str) -> Any:
    """Parse an `as_at` query value, or answer 422 naming it."""
    try:
        return parse_as_at(text)
    except InvalidValueError as error:
        raise ProblemError(
            422,
            error.detail,
            extra={"errors": [{"loc": ["query", "as_at"], "msg": error.detail}]},
        ) from None


@router.get(
    "/totals",
    response_model=AsAtTotalsOut,
    openapi_extra=TOTALS_FILTERS.openapi_extra(),
    dependencies=[Depends(TOTALS_FILTERS)],
    responses={
        200: {
            "description": "JSON, or with `format=csv` a CSV file (the grand total last; the "
            "instant, last position and tree size in X-As-At, X-Position, X-Tree-Size).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
)
def get_totals_as_at(
    request: Request,
    ledger: LedgerDep,
    _: Auditor,
    as_at: Annotated[
        str,
        Query(
            description="A date (2024-12-31: the end of that day in Europe/Paris) or an ISO "
            "8601 timestamp with its offset (2025-01-15T12:00:00+01:00, …Z); not in the future."
        ),
    ],
    group_by: Annotated[
        str, Query(description=f"Comma-separated dimensions: {', '.join(reading.DIMENSIONS)}")
    ] = "",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    output: Output = "json",
    sep: Annotated[str, Query(pattern="^[,;]$", description="CSV separator")] = ",",
    min_position: Annotated[int | None, Query(ge=0, le=MAX_POSITION)] = None,
) -> Any:
    """Totals of the events recorded up to `as_at`, grouped and filtered as `/v1/totals`.

    The log is replayed up to the first event recorded after `as_at` (the longest prefix
    of events all recorded at or before it); the answer states the instant used, the last
    position it includes and `tree_size`, the number of events it covers. One report runs
    at a time per process: 503 with Retry-After when another one holds the slot too long.
    """
    services: Services = request.app.state.services
    if min_position and min_position > (head := ledger.head_position()):
        raise beyond_head(min_position, head)
    at = as_at_instant(as_at)
    filters = {k: v for k, v in request.query_params.items() if k not in ASAT_PARAMS}
    dims = [d.strip() for d in group_by.split(",") if d.strip()]
    question = Question.of(dims, filters, date_from, date_to, services.settings.totals_max_rows)
    reports: AsAtReports = request.app.state.asat_reports
    try:
        report = reports.totals(ledger, services.settings.database_url, at, question)
    except AsAtBusyError as error:
        raise ProblemError(
            503, f"{error}; try again shortly", headers={"Retry-After": "5"}
        ) from None
    # The labels of today's reference (a convention's title as it reads now).
    totals_labels.labelled(services.read_models, report.totals.rows, dims)
    cut = report.cut
    if output == "csv":
        return Response(
            content=totals_csv(dims, report.totals, sep),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="totals-as-at.csv"',
                "X-As-At": cut.at.isoformat(),
                "X-Position": str(cut.position),
                "X-Tree-Size": str(cut.tree_size),
            },
        )
    return Response(
        AsAtTotalsOut.of(report).model_dump_json().encode(), media_type="application/json"
    )
