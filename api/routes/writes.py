"""Writes: every command on projects and conventions, each answering what it recorded (201)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.answers.writes import CommitmentWritten, ConventionWritten, LinkWritten, ProjectWritten
from api.bodies import (
    AmountCorrectionIn,
    CancellationIn,
    ClosureIn,
    ConventionIn,
    DeliveryIn,
    DisbursementIn,
    EquityIn,
    IndicatorIn,
    LinkIn,
    LoanIn,
    MeasurementIn,
    ProjectCorrectionIn,
    ProjectIn,
    RepaymentIn,
    StudyIn,
    command_of,
)
from api.deps import LedgerDep
from api.exact_json import ExactJSONRoute
from api.idempotency import REPLAYED_HEADER
from api.problems import problem_responses
from api.requests import NewWrite, Write, WriteContext
from domain.application import Ledger
from domain.commands import (
    AbandonProject,
    CancelCommitment,
    Command,
    CompleteProject,
    CorrectCommitmentAmount,
    CorrectProject,
    DeliverStudy,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    LaunchStudy,
    LinkToConvention,
    Measure,
    RecordRepayment,
    SetIndicator,
    SignConvention,
)
from domain.outcomes import Written

router = APIRouter(
    prefix="/v1", route_class=ExactJSONRoute, responses=problem_responses(401, 403, 503)
)


def created(
    answer: BaseModel, written: Written, location: str | None = None, *, etag: bool = True
) -> Response:
    """The 201 answer, serialised once by its own model, with its headers.

    The route's `response_model` documents it; returning the finished response saves
    FastAPI validating and encoding the model a second time on every write. A write to a
    project carries the project's new version as its ETag.
    """
    headers: dict[str, str] = {}
    if written.replayed:
        headers[REPLAYED_HEADER] = "true"
    if location is not None:
        headers["Location"] = location
    if etag:
        headers["ETag"] = f'"{written.version}"'
    return Response(
        answer.model_dump_json().encode(),
        status_code=201,
        headers=headers,
        media_type="application/json",
    )


def execute(ledger: Ledger, write: WriteContext, command: Command) -> Written:
    """Run a request's command with its If-Match and idempotency claim."""
    return ledger.execute(
        write.actor,
        command,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
    )


# Projects -------------------------------------------------------------------------------------


@router.post("/projects", status_code=201, response_model=ProjectWritten, tags=["projects"])
def identify_project(body: ProjectIn, ledger: LedgerDep, write: NewWrite) -> Response:
    """Identify a project (ProjectIdentified); a reference is unique within its directorate."""
    written = execute(ledger, write, command_of(body, IdentifyProject))
    return created(ProjectWritten.of(written), written, f"/v1/projects/{written.id}")


@router.post(
    "/projects/{project_id}/corrections",
    status_code=201,
    response_model=ProjectWritten,
    tags=["projects"],
)
def correct_project(
    project_id: UUID,
    body: ProjectCorrectionIn,
    ledger: LedgerDep,
    write: Write,
) -> Response:
    """Correct a project's details (ProjectDetailsCorrected); null clears programme or cost."""
    written = execute(
        ledger,
        write,
        command_of(body, CorrectProject, project_id=project_id, cleared=body.cleared()),
    )
    return created(ProjectWritten.of(written), written)


@router.post(
    "/projects/{project_id}/loans",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def grant_loan(project_id: UUID, body: LoanIn, ledger: LedgerDep, write: Write) -> Response:
    """Grant a loan to the project (LoanGranted)."""
    written = execute(ledger, write, command_of(body, GrantLoan, project_id=project_id))
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/equity-investments",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def invest_equity(project_id: UUID, body: EquityIn, ledger: LedgerDep, write: Write) -> Response:
    """Take an equity stake in the project (EquityInvested)."""
    written = execute(ledger, write, command_of(body, InvestEquity, project_id=project_id))
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/studies",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def launch_study(project_id: UUID, body: StudyIn, ledger: LedgerDep, write: Write) -> Response:
    """Launch an engineering study for the project (StudyLaunched)."""
    written = execute(ledger, write, command_of(body, LaunchStudy, project_id=project_id))
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/studies/{commitment_id}/delivery",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def deliver_study(
    project_id: UUID,
    commitment_id: UUID,
    body: DeliveryIn,
    ledger: LedgerDep,
    write: Write,
) -> Response:
    """Record a study's delivery (StudyDelivered)."""
    written = execute(
        ledger,
        write,
        command_of(body, DeliverStudy, project_id=project_id, commitment_id=commitment_id),
    )
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/commitments/{commitment_id}/disbursements",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def disburse(
    project_id: UUID,
    commitment_id: UUID,
    body: DisbursementIn,
    ledger: LedgerDep,
    write: Write,
) -> Response:
    """Disburse money under a commitment, up to what remains to disburse (FundsDisbursed)."""
    written = execute(
        ledger,
        write,
        command_of(body, Disburse, project_id=project_id, commitment_id=commitment_id),
    )
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/commitments/{commitment_id}/repayments",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def record_repayment(
    project_id: UUID,
    commitment_id: UUID,
    body: RepaymentIn,
    ledger: LedgerDep,
    write: Write,
) -> Response:
    """Record principal repaid on a loan, up to what is outstanding (LoanRepaid)."""
    written = execute(
        ledger,
        write,
        command_of(body, RecordRepayment, project_id=project_id, commitment_id=commitment_id),
    )
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/commitments/{commitment_id}/cancellations",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def cancel_commitment(
    project_id: UUID,
    commitment_id: UUID,
    body: CancellationIn,
    ledger: LedgerDep,
    write: Write,
) -> Response:
    """Cancel money committed and not yet disbursed (CommitmentCancelled)."""
    written = execute(
        ledger,
        write,
        command_of(body, CancelCommitment, project_id=project_id, commitment_id=commitment_id),
    )
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/commitments/{commitment_id}/corrections",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def correct_commitment_amount(
    project_id: UUID,
    commitment_id: UUID,
    body: AmountCorrectionIn,
    ledger: LedgerDep,
    write: Write,
) -> Response:
    """Correct a commitment's recorded amount; it counts at the original date."""
    written = execute(
        ledger,
        write,
        command_of(
            body, CorrectCommitmentAmount, project_id=project_id, commitment_id=commitment_id
        ),
    )
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/indicators",
    status_code=201,
    response_model=ProjectWritten,
    tags=["projects"],
)
def set_indicator(project_id: UUID, body: IndicatorIn, ledger: LedgerDep, write: Write) -> Response:
    """Set (or reset) an impact indicator with its target (ImpactIndicatorSet)."""
    written = execute(ledger, write, command_of(body, SetIndicator, project_id=project_id))
    return created(ProjectWritten.of(written), written)


@router.post(
    "/projects/{project_id}/indicators/{indicator}/measurements",
    status_code=201,
    response_model=ProjectWritten,
    tags=["projects"],
)
def measure(
    project_id: UUID,
    indicator: str,
    body: MeasurementIn,
    ledger: LedgerDep,
    write: Write,
) -> Response:
    """Record a measure of an impact indicator (ImpactMeasured)."""
    written = execute(
        ledger, write, command_of(body, Measure, project_id=project_id, indicator=indicator)
    )
    return created(ProjectWritten.of(written), written)


@router.post(
    "/projects/{project_id}/completion",
    status_code=201,
    response_model=ProjectWritten,
    tags=["projects"],
)
def complete_project(
    project_id: UUID, body: ClosureIn, ledger: LedgerDep, write: Write
) -> Response:
    """Close the project as completed (ProjectCompleted)."""
    written = execute(ledger, write, command_of(body, CompleteProject, project_id=project_id))
    return created(ProjectWritten.of(written), written)


@router.post(
    "/projects/{project_id}/abandonment",
    status_code=201,
    response_model=ProjectWritten,
    tags=["projects"],
)
def abandon_project(project_id: UUID, body: ClosureIn, ledger: LedgerDep, write: Write) -> Response:
    """Close the project as abandoned (ProjectAbandoned)."""
    written = execute(ledger, write, command_of(body, AbandonProject, project_id=project_id))
    return created(ProjectWritten.of(written), written)


# Conventions ----------------------------------------------------------------------------------


@router.post(
    "/conventions", status_code=201, response_model=ConventionWritten, tags=["conventions"]
)
def sign_convention(body: ConventionIn, ledger: LedgerDep, write: NewWrite) -> Response:
    """Sign a partnership convention (ConventionSigned)."""
    written = execute(ledger, write, command_of(body, SignConvention))
    return created(
        ConventionWritten(id=written.id, version=written.version, position=written.position),
        written,
        f"/v1/conventions/{written.id}",
        etag=False,
    )


@router.post(
    "/conventions/{convention_id}/projects",
    status_code=201,
    response_model=LinkWritten,
    tags=["conventions"],
)
def link_project(convention_id: UUID, body: LinkIn, ledger: LedgerDep, write: Write) -> Response:
    """Place a project under a convention in force (ProjectLinkedToConvention)."""
    written = execute(
        ledger, write, command_of(body, LinkToConvention, convention_id=convention_id)
    )
    return created(
        LinkWritten(
            project_id=written.id,
            convention_id=convention_id,
            version=written.version,
            position=written.position,
        ),
        written,
    )
