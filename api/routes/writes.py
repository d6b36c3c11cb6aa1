"""Writes: every command on projects and conventions, each answering what it recorded (201)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import LedgerDep
from api.idempotency import REPLAYED_HEADER
from api.problems import problem_responses
from api.requests import (
    AmountCorrectionIn,
    CancellationIn,
    ClosureIn,
    ConventionIn,
    DeliveryIn,
    DisbursementIn,
    EquityIn,
    ExactJSONRoute,
    IndicatorIn,
    LinkIn,
    LoanIn,
    MeasurementIn,
    NewWrite,
    ProjectCorrectionIn,
    ProjectIn,
    RepaymentIn,
    StudyIn,
    Write,
)
from domain.application import Written

router = APIRouter(
    prefix="/v1", route_class=ExactJSONRoute, responses=problem_responses(401, 403, 503)
)

POSITION = Field(description="The write's place in the global log: read with min_position=it.")
VERSION = Field(description="The aggregate's version after the write.")


class ProjectWritten(BaseModel):
    """A write to a project: its new version and the write's log position."""

    id: UUID
    project_id: UUID
    version: int = VERSION
    position: int = POSITION

    @classmethod
    def of(cls, written: Written) -> ProjectWritten:
        """Build the answer to a project write."""
        return cls(
            id=written.id, project_id=written.id, version=written.version, position=written.position
        )


class CommitmentWritten(BaseModel):
    """A write to a commitment of a project."""

    commitment_id: UUID
    project_id: UUID
    version: int = VERSION
    position: int = POSITION

    @classmethod
    def of(cls, written: Written) -> CommitmentWritten:
        """Build the answer to a commitment write."""
        if written.commitment_id is None:
            raise TypeError("a commitment write names its commitment")
        return cls(
            commitment_id=written.commitment_id,
            project_id=written.id,
            version=written.version,
            position=written.position,
        )


class ConventionWritten(BaseModel):
    """A write to a convention."""

    id: UUID
    version: int = VERSION
    position: int = POSITION


class LinkWritten(BaseModel):
    """A project placed under a convention."""

    project_id: UUID
    convention_id: UUID
    version: int = VERSION
    position: int = POSITION


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


# Projects -------------------------------------------------------------------------------------


@router.post("/projects", status_code=201, response_model=ProjectWritten, tags=["projects"])
def identify_project(body: ProjectIn, ledger: LedgerDep, write: NewWrite) -> Response:
    """Identify a project (ProjectIdentified); a reference is unique within its directorate."""
    written = ledger.identify_project(
        write.actor,
        name=body.name,
        territory=body.territory,
        theme=body.theme,
        directorate=body.directorate,
        identified_on=body.identified_on,
        programme=body.programme,
        estimated_cost=body.estimated_cost,
        reference=body.reference,
        idempotency=write.idempotency,
    )
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
    written = ledger.correct_project(
        write.actor,
        project_id,
        reason=body.reason,
        name=body.name,
        territory=body.territory,
        theme=body.theme,
        programme=body.programme,
        estimated_cost=body.estimated_cost,
        cleared=body.cleared(),
        expected_version=write.expected_version,
        idempotency=write.idempotency,
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
    written = ledger.grant_loan(
        write.actor,
        project_id,
        amount=body.amount,
        granted_on=body.granted_on,
        duration_months=body.duration_months,
        rate=body.rate,
        product=body.product,
        commitment_id=body.commitment_id,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
    )
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/equity-investments",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def invest_equity(project_id: UUID, body: EquityIn, ledger: LedgerDep, write: Write) -> Response:
    """Take an equity stake in the project (EquityInvested)."""
    written = ledger.invest_equity(
        write.actor,
        project_id,
        amount=body.amount,
        invested_on=body.invested_on,
        stake_percent=body.stake_percent,
        vehicle=body.vehicle,
        commitment_id=body.commitment_id,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
    )
    return created(CommitmentWritten.of(written), written)


@router.post(
    "/projects/{project_id}/studies",
    status_code=201,
    response_model=CommitmentWritten,
    tags=["commitments"],
)
def launch_study(project_id: UUID, body: StudyIn, ledger: LedgerDep, write: Write) -> Response:
    """Launch an engineering study for the project (StudyLaunched)."""
    written = ledger.launch_study(
        write.actor,
        project_id,
        amount=body.amount,
        launched_on=body.launched_on,
        subject=body.subject,
        provider=body.provider,
        commitment_id=body.commitment_id,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
    )
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
    written = ledger.deliver_study(
        write.actor,
        project_id,
        commitment_id,
        delivered_on=body.delivered_on,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
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
    written = ledger.disburse(
        write.actor,
        project_id,
        commitment_id,
        amount=body.amount,
        disbursed_on=body.disbursed_on,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
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
    written = ledger.record_repayment(
        write.actor,
        project_id,
        commitment_id,
        principal=body.principal,
        repaid_on=body.repaid_on,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
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
    written = ledger.cancel_commitment(
        write.actor,
        project_id,
        commitment_id,
        amount=body.amount,
        cancelled_on=body.cancelled_on,
        reason=body.reason,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
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
    written = ledger.correct_commitment_amount(
        write.actor,
        project_id,
        commitment_id,
        amount=body.amount,
        reason=body.reason,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
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
    written = ledger.set_indicator(
        write.actor,
        project_id,
        indicator=body.indicator,
        unit=body.unit,
        target=body.target,
        due_on=body.due_on,
        baseline=body.baseline,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
    )
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
    written = ledger.measure(
        write.actor,
        project_id,
        indicator=indicator,
        value=body.value,
        measured_on=body.measured_on,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
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
    written = ledger.complete_project(
        write.actor,
        project_id,
        on=body.on,
        reason=body.reason,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
    )
    return created(ProjectWritten.of(written), written)


@router.post(
    "/projects/{project_id}/abandonment",
    status_code=201,
    response_model=ProjectWritten,
    tags=["projects"],
)
def abandon_project(project_id: UUID, body: ClosureIn, ledger: LedgerDep, write: Write) -> Response:
    """Close the project as abandoned (ProjectAbandoned)."""
    written = ledger.abandon_project(
        write.actor,
        project_id,
        on=body.on,
        reason=body.reason,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
    )
    return created(ProjectWritten.of(written), written)


# Conventions ----------------------------------------------------------------------------------


@router.post(
    "/conventions", status_code=201, response_model=ConventionWritten, tags=["conventions"]
)
def sign_convention(body: ConventionIn, ledger: LedgerDep, write: NewWrite) -> Response:
    """Sign a partnership convention (ConventionSigned)."""
    written = ledger.sign_convention(
        write.actor,
        title=body.title,
        directorate=body.directorate,
        signatories=body.signatories,
        themes=body.themes,
        signed_on=body.signed_on,
        ends_on=body.ends_on,
        envelope=body.envelope,
        idempotency=write.idempotency,
    )
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
    written = ledger.link_project_to_convention(
        write.actor,
        convention_id,
        body.project_id,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
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
