"""Writes: every command on projects and conventions, each answering what it recorded (201)."""

# Without `from __future__ import annotations`: each route's signature is built from the
# table below, and FastAPI reads its annotations as the objects themselves.
from collections.abc import Mapping
from inspect import Parameter, Signature
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.answers.writes import (
    Answer,
    CommitmentWritten,
    ConventionWritten,
    LinkWritten,
    ProjectWritten,
    WriteWarning,
)
from api.bodies import BODIES, command_of
from api.deps import LedgerDep, ReadModelsDep
from api.duplicate_projects import refuse_namesake
from api.envelopes import envelope_warnings
from api.exact_json import ExactJSONRoute
from api.idempotency import REPLAYED_HEADER
from api.problems import problem_responses
from api.requests import NewWrite, Write, WriteContext
from domain import commands
from domain.application import Ledger
from domain.commands import Command
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
        answer.model_dump_json(exclude_none=True).encode(),
        status_code=201,
        headers=headers,
        media_type="application/json",
    )


def checks_duplicates(write: WriteContext) -> bool:
    """Whether a write is checked for possible duplicates: not when keyed or confirmed."""
    return write.idempotency is None and not write.confirm_duplicate


def execute(ledger: Ledger, write: WriteContext, command: Command) -> Written:
    """Run a request's command with its If-Match and idempotency claim."""
    return ledger.execute(
        write.actor,
        command,
        expected_version=write.expected_version,
        idempotency=write.idempotency,
        confirm_duplicate=write.confirm_duplicate,
    )


# The routes: path, command, answer, the path's parameters, and what a new aggregate adds.
PROJECT = {"project_id": UUID}
COMMITMENT = {"project_id": UUID, "commitment_id": UUID}
MOVEMENT = {**COMMITMENT, "number": int}


def _route(
    path: str,
    command: type[Command],
    answer: Answer,
    path_params: Mapping[str, type],
    *,
    tag: str,
    creates: str | None = None,
) -> None:
    """Add the route that runs one command: its body, its path, its answer (201)."""
    new = creates is not None

    def endpoint(**arguments: Any) -> Response:
        body, ledger, write = arguments.pop("body"), arguments.pop("ledger"), arguments.pop("write")
        read_models, request = arguments.pop("read_models"), arguments.pop("request")
        run = command_of(body, command, **arguments)
        if isinstance(run, commands.IdentifyProject) and checks_duplicates(write):
            refuse_namesake(request, ledger.head_position(), read_models, run)
        written = execute(ledger, write, run)
        location = None if creates is None else f"/v1/{creates}/{written.id}"
        etag = command is not commands.SignConvention
        made = answer.of(written, arguments)
        if isinstance(made, CommitmentWritten | LinkWritten):
            # Recorded, and said: the write leaves a convention over its envelope.
            made.warnings = [
                WriteWarning.model_validate(w)
                for w in envelope_warnings(ledger, read_models, run, written.id)
            ] or None
        return created(made, written, location, etag=etag)

    parameters = [
        Parameter(name, Parameter.KEYWORD_ONLY, annotation=kind)
        for name, kind in path_params.items()
    ]
    parameters += [
        Parameter("body", Parameter.KEYWORD_ONLY, annotation=BODIES[command]),
        Parameter("ledger", Parameter.KEYWORD_ONLY, annotation=LedgerDep),
        Parameter("read_models", Parameter.KEYWORD_ONLY, annotation=ReadModelsDep),
        Parameter("write", Parameter.KEYWORD_ONLY, annotation=NewWrite if new else Write),
        Parameter("request", Parameter.KEYWORD_ONLY, annotation=Request),
    ]
    setattr(endpoint, "__signature__", Signature(parameters, return_annotation=Response))  # noqa: B010
    name = ROUTE_NAMES[command]
    endpoint.__name__ = name
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        status_code=201,
        response_model=answer,
        tags=[tag],
        name=name,
        description=command.__doc__,
    )


# Route names make the operation ids of the OpenAPI document: they stay as they were.
ROUTE_NAMES: dict[type[Command], str] = {
    commands.IdentifyProject: "identify_project",
    commands.CorrectProject: "correct_project",
    commands.GrantLoan: "grant_loan",
    commands.InvestEquity: "invest_equity",
    commands.LaunchStudy: "launch_study",
    commands.DeliverStudy: "deliver_study",
    commands.Disburse: "disburse",
    commands.RecordRepayment: "record_repayment",
    commands.CancelCommitment: "cancel_commitment",
    commands.CorrectCommitmentAmount: "correct_commitment_amount",
    commands.VoidCommitment: "void_commitment",
    commands.ReverseDisbursement: "reverse_disbursement",
    commands.ReverseRepayment: "reverse_repayment",
    commands.VoidProject: "void_project",
    commands.CorrectCommitmentDate: "correct_commitment_date",
    commands.SetIndicator: "set_indicator",
    commands.Measure: "measure",
    commands.CompleteProject: "complete_project",
    commands.AbandonProject: "abandon_project",
    commands.SignConvention: "sign_convention",
    commands.LinkToConvention: "link_project",
}

ROUTES: list[tuple[str, type[Command], Answer, Mapping[str, type], str]] = [
    ("/projects", commands.IdentifyProject, ProjectWritten, {}, "projects"),
    (
        "/projects/{project_id}/corrections",
        commands.CorrectProject,
        ProjectWritten,
        PROJECT,
        "projects",
    ),
    ("/projects/{project_id}/loans", commands.GrantLoan, CommitmentWritten, PROJECT, "commitments"),
    (
        "/projects/{project_id}/equity-investments",
        commands.InvestEquity,
        CommitmentWritten,
        PROJECT,
        "commitments",
    ),
    (
        "/projects/{project_id}/studies",
        commands.LaunchStudy,
        CommitmentWritten,
        PROJECT,
        "commitments",
    ),
    (
        "/projects/{project_id}/studies/{commitment_id}/delivery",
        commands.DeliverStudy,
        CommitmentWritten,
        COMMITMENT,
        "commitments",
    ),
    (
        "/projects/{project_id}/commitments/{commitment_id}/disbursements",
        commands.Disburse,
        CommitmentWritten,
        COMMITMENT,
        "commitments",
    ),
    (
        "/projects/{project_id}/commitments/{commitment_id}/repayments",
        commands.RecordRepayment,
        CommitmentWritten,
        COMMITMENT,
        "commitments",
    ),
    (
        "/projects/{project_id}/commitments/{commitment_id}/cancellations",
        commands.CancelCommitment,
        CommitmentWritten,
        COMMITMENT,
        "commitments",
    ),
    (
        "/projects/{project_id}/commitments/{commitment_id}/corrections",
        commands.CorrectCommitmentAmount,
        CommitmentWritten,
        COMMITMENT,
        "commitments",
    ),
    (
        "/projects/{project_id}/commitments/{commitment_id}/voiding",
        commands.VoidCommitment,
        CommitmentWritten,
        COMMITMENT,
        "commitments",
    ),
    (
        "/projects/{project_id}/commitments/{commitment_id}/disbursements/{number}/reversal",
        commands.ReverseDisbursement,
        CommitmentWritten,
        MOVEMENT,
        "commitments",
    ),
    (
        "/projects/{project_id}/commitments/{commitment_id}/repayments/{number}/reversal",
        commands.ReverseRepayment,
        CommitmentWritten,
        MOVEMENT,
        "commitments",
    ),
    (
        "/projects/{project_id}/commitments/{commitment_id}/date-corrections",
        commands.CorrectCommitmentDate,
        CommitmentWritten,
        COMMITMENT,
        "commitments",
    ),
    ("/projects/{project_id}/voiding", commands.VoidProject, ProjectWritten, PROJECT, "projects"),
    (
        "/projects/{project_id}/indicators",
        commands.SetIndicator,
        ProjectWritten,
        PROJECT,
        "projects",
    ),
    (
        "/projects/{project_id}/indicators/{indicator}/measurements",
        commands.Measure,
        ProjectWritten,
        {"project_id": UUID, "indicator": str},
        "projects",
    ),
    (
        "/projects/{project_id}/completion",
        commands.CompleteProject,
        ProjectWritten,
        PROJECT,
        "projects",
    ),
    (
        "/projects/{project_id}/abandonment",
        commands.AbandonProject,
        ProjectWritten,
        PROJECT,
        "projects",
    ),
    ("/conventions", commands.SignConvention, ConventionWritten, {}, "conventions"),
    (
        "/conventions/{convention_id}/projects",
        commands.LinkToConvention,
        LinkWritten,
        {"convention_id": UUID},
        "conventions",
    ),
]

CREATES = {commands.IdentifyProject: "projects", commands.SignConvention: "conventions"}

for path, command, answer, path_params, tag in ROUTES:
    _route(path, command, answer, path_params, tag=tag, creates=CREATES.get(command))
