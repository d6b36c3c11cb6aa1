"""Project reads: the project now, at a version, as recorded at a time; its events."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.answers.reads import EventOut, EventsOut, ProjectOut
from api.deps import MAX_POSITION, EventReader, LedgerDep, Reader, beyond_head
from api.problems import ProblemError, problem_responses
from api.routes.asat import as_at_instant
from domain.application import Ledger

router = APIRouter(prefix="/v1/projects", tags=["projects"], responses=problem_responses(401, 503))

# These reads come from the event store itself: any position the log holds is reached.
MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_POSITION,
        description="Refused (422, with the `head`) only beyond the log's head.",
    ),
]


def _reached(ledger: Ledger, min_position: int | None) -> None:
    if min_position and min_position > (head := ledger.head_position()):
        raise beyond_head(min_position, head)


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(
    project_id: UUID,
    ledger: LedgerDep,
    _: Reader,
    response: Response,
    version: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
    as_at: Annotated[
        str | None,
        Query(
            description="As recorded at this instant: an ISO 8601 timestamp with its offset, "
            "or a date alone (the end of that day in Europe/Paris); not in the future."
        ),
    ] = None,
    min_position: MinPosition = None,
) -> ProjectOut:
    """The project now, at a version, or as recorded at a time; ETag is its version."""
    _reached(ledger, min_position)
    if version is not None and as_at is not None:
        raise ProblemError(400, "ask for either version or as_at, not both")
    if as_at is not None:
        project = ledger.project_as_at(project_id, as_at_instant(as_at))
    else:
        project = ledger.project(project_id, version)
    response.headers["ETag"] = f'"{project.version}"'
    return ProjectOut.of(project)


@router.get("/{project_id}/events", response_model=EventsOut, responses=problem_responses(403))
def get_project_events(
    project_id: UUID, ledger: LedgerDep, _: EventReader, min_position: MinPosition = None
) -> EventsOut:
    """The project's events in order, with version, log position, recording time and actor."""
    _reached(ledger, min_position)
    return EventsOut(
        project_id=project_id,
        events=[EventOut.of(e) for e in ledger.project_events(project_id)],
    )
