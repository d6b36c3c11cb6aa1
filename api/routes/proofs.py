"""The verifiable log: signed tree heads, public keys, inclusion and consistency proofs, a check.

Every answer is read from the stored tree (O(log n) reads), except `/verify`, which
recomputes every leaf from the stored events. Auditors and admins only.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from api import proofs
from api.answers.proofs import (
    ConsistencyProofOut,
    InclusionProofOut,
    PublicKeysOut,
    TreeHeadOut,
    VerifyOut,
)
from api.audit_keys import AuditKeyError, KeyRing, cached_keyring
from api.deps import MAX_POSITION, Auditor, LedgerDep, ServicesDep
from api.problems import ProblemError, problem_responses
from eventstore.verify import verify_log

router = APIRouter(
    prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 403, 500, 503)
)
PEM = "application/x-pem-file"
log = structlog.get_logger("api")


def _keyring(services: ServicesDep) -> KeyRing:
    settings = services.settings
    try:
        return cached_keyring(settings.audit_key_file, settings.audit_public_keys)
    except AuditKeyError as error:
        # A key file that exists but cannot be used (open to others, not Ed25519): the
        # operator reads why in the log; the caller learns only that no head can be signed.
        log.error("audit_key_unusable", reason=str(error))
        raise ProblemError(
            500, "the tree-head signing key cannot be used: the server's log says why"
        ) from None


def _no_key() -> ProblemError:
    return ProblemError(
        404,
        "this server has no tree-head signing key yet: an operator creates one with "
        "`funding audit keygen` (proofs and /v1/audit/verify answer without it)",
    )


def _refused(error: proofs.ProofRequestError) -> ProblemError:
    errors = [{"loc": ["query", error.field], "msg": error.detail}]
    return ProblemError(404 if error.missing else 422, error.detail, extra={"errors": errors})


@router.get("/tree-head", response_model=TreeHeadOut, responses=problem_responses(404))
def tree_head(services: ServicesDep, ledger: LedgerDep, _: Auditor) -> TreeHeadOut:
    """The signed tree head of the whole log, as `funding audit checkpoint` saves it."""
    ring = _keyring(services)
    try:
        return proofs.head_out(proofs.signed_head(ledger.recorder, ring))
    except AuditKeyError:
        raise _no_key() from None


@router.get(
    "/public-key",
    response_model=PublicKeysOut,
    responses={
        **problem_responses(404),
        200: {
            "description": "The keys, or with `Accept: application/x-pem-file` their PEM "
            "blocks (the signing key first).",
            "content": {PEM: {"schema": {"type": "string"}}},
        },
    },
)
def public_key(request: Request, services: ServicesDep, _: Auditor) -> Any:
    """The Ed25519 public keys that sign tree heads (the signing key first, then retired)."""
    ring = _keyring(services)
    if not ring.public:
        raise _no_key()
    answer = proofs.public_keys(ring)
    if PEM in request.headers.get("accept", ""):
        return PlainTextResponse("".join(k.public_key_pem for k in answer.keys), media_type=PEM)
    return answer


@router.get("/proof/inclusion", response_model=InclusionProofOut, responses=problem_responses(404))
def inclusion_proof(
    ledger: LedgerDep,
    _: Auditor,
    position: Annotated[int, Query(ge=1, le=MAX_POSITION, description="The event's log position.")],
    tree_size: Annotated[
        int | None,
        Query(ge=1, le=MAX_POSITION, description="The tree (a signed head's size); now if absent."),
    ] = None,
) -> InclusionProofOut:
    """The audit path of one event up to the root of a tree head (RFC 9162 §2.1.3)."""
    try:
        return proofs.inclusion(ledger.recorder, position, tree_size)
    except proofs.ProofRequestError as error:
        raise _refused(error) from None


@router.get("/proof/consistency", response_model=ConsistencyProofOut)
def consistency_proof(
    ledger: LedgerDep,
    _: Auditor,
    from_size: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="The older tree head's size.")
    ],
    to_size: Annotated[
        int | None,
        Query(ge=0, le=MAX_POSITION, description="The newer tree head's size; now if absent."),
    ] = None,
) -> ConsistencyProofOut:
    """The proof that a newer tree extends an older one (RFC 9162 §2.1.4)."""
    try:
        return proofs.consistency(ledger.recorder, from_size, to_size)
    except proofs.ProofRequestError as error:
        raise _refused(error) from None


@router.get("/verify", response_model=VerifyOut, response_model_exclude_none=True)
def verify(ledger: LedgerDep, _: Auditor) -> VerifyOut:
    """Recompute every leaf from the stored events and the tree from the leaves.

    `ok: false` names the first position where the log and its tree differ, and how.
    """
    report = verify_log(ledger.recorder)
    return VerifyOut(
        ok=report.ok,
        checked=report.checked,
        head_position=report.head_position,
        head_hash=report.head_hash,
        first_bad_position=report.first_bad_position,
        problem=report.problem,
    )
