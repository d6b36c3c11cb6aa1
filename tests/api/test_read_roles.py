"""Who may read what: every read endpoint, each role, no token, a revoked token."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.tokens import create_token, revoke_token
from domain.application import Ledger
from domain.commands import IdentifyProject, SignConvention
from domain.tokens import Role
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up

SEED = Actor(name="seed")
ROLES = ("admin", "hdf", "auditor", "viewer")
# Each read endpoint and the roles that may call it (API.md).
READS: list[tuple[str, frozenset[str]]] = [
    ("/v1/totals?group_by=region", frozenset(ROLES)),
    ("/v1/projects", frozenset(ROLES)),
    ("/v1/projects/{p}", frozenset(ROLES)),
    ("/v1/projects/{p}/events", frozenset({"admin", "hdf", "auditor"})),
    ("/v1/conventions", frozenset(ROLES)),
    ("/v1/conventions/{c}", frozenset(ROLES)),
    ("/v1/territories?q=lens", frozenset(ROLES)),
    ("/v1/territories/commune:59650", frozenset(ROLES)),
    ("/v1/reference", frozenset(ROLES)),
    ("/v1/projections", frozenset(ROLES)),
    ("/v1/audit/events", frozenset({"admin", "auditor"})),
]
PATHS = [path for path, _ in READS]


@pytest.fixture
def ids(api_ledger: Ledger, read_models: ReadModelDatabase) -> dict[str, str]:
    """A projected project and convention to read."""
    project = api_ledger.execute(
        SEED,
        IdentifyProject(
            name="Gare routière",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 10),
        ),
    )
    convention = api_ledger.execute(
        SEED,
        SignConvention(
            title="Convention",
            directorate="hauts_de_france",
            signatories=["commune:59650"],
            themes=["mobility"],
            signed_on=date(2024, 1, 1),
        ),
    )
    catch_up(api_ledger, read_models)
    return {"p": str(project.id), "c": str(convention.id)}


@pytest.mark.parametrize(("path", "allowed"), READS, ids=PATHS)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_what_it_may_and_nothing_else(
    client: TestClient,
    tokens: dict[str, str],
    ids: dict[str, str],
    path: str,
    allowed: frozenset[str],
    role: str,
) -> None:
    response = client.get(path.format(**ids), headers={"Authorization": tokens[role]})

    assert response.status_code == (200 if role in allowed else 403)


@pytest.mark.parametrize("path", PATHS)
def test_a_read_without_a_token_is_refused(
    client: TestClient, ids: dict[str, str], path: str
) -> None:
    response = client.get(path.format(**ids))

    assert response.status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_a_read_with_a_revoked_token_is_refused(
    client: TestClient, api_ledger: Ledger, ids: dict[str, str], path: str
) -> None:
    token, _ = create_token(api_ledger, name="leaver", role=Role.ADMIN)
    revoke_token(api_ledger, "leaver")

    response = client.get(path.format(**ids), headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
