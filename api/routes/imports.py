"""CSV import of commitments: all rows recorded in one transaction, or none."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.csv_import import ImportReport, run_import
from api.deps import LedgerDep
from api.idempotency import REPLAYED_HEADER, IdempotencyDep
from api.problems import ProblemError, problem_responses
from api.requests import ActorDep, ConfirmDuplicate, WriteContext, require_media_type

router = APIRouter(prefix="/v1", tags=["imports"], responses=problem_responses(401, 403, 503))


async def csv_body(request: Request) -> bytes:
    """The request's CSV body (415 for another media type)."""
    require_media_type(request, "text/csv")
    return await request.body()


def csv_write(actor: ActorDep, idempotency: IdempotencyDep) -> WriteContext:
    """Who imports, and the idempotency claim."""
    return WriteContext(actor, idempotency)


CSVBody = Annotated[bytes, Depends(csv_body)]
CSVWrite = Annotated[WriteContext, Depends(csv_write)]


@router.post(
    "/imports",
    response_model=ImportReport,
    response_model_exclude_none=True,
    status_code=201,
    responses={
        200: {
            "model": ImportReport,
            "description": "Dry run, or every row was already recorded: nothing stored.",
        },
        422: {
            **problem_responses(422)[422],
            "description": "Some rows are refused (the problem has the report): nothing stored.",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def import_commitments(
    write: CSVWrite,
    data: CSVBody,
    ledger: LedgerDep,
    response: Response,
    dry_run: Annotated[bool, Query(description="Check every row and store nothing.")] = False,
    confirm_duplicate: ConfirmDuplicate = False,
) -> ImportReport:
    """Import commitments from CSV, one per row (see docs/import.md): all rows or none."""
    report = run_import(
        ledger,
        write.actor,
        data,
        dry_run=dry_run,
        idempotency=write.idempotency,
        confirm_duplicate=confirm_duplicate,
    )
    if report.refused:
        raise ProblemError(
            422,
            f"{report.refused} of {len(report.rows)} rows are refused: nothing was recorded",
            extra=report.problem_body(),
        )
    if report.duplicates:
        raise ProblemError(
            409,
            f"{report.duplicates} of {len(report.rows)} rows repeat a recent write or an "
            "earlier row field for field: nothing was recorded; if they are meant, import "
            "the file again with confirm_duplicate=true",
            extra=report.problem_body(),
            kind="possible-duplicate",
        )
    if report.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    response.status_code = 201 if report.accepted and not dry_run else 200
    return report
