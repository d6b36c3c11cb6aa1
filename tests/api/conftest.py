"""API fixtures: an app on a fresh store, and a token per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tokens import Role, create_token
from domain.application import Ledger
from domain.store import library_env


@pytest.fixture
def api_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A ledger on a fresh SQLite file."""
    path = tmp_path_factory.mktemp("api") / "ledger.sqlite3"
    ledger = Ledger(env=library_env(f"sqlite:///{path}"))
    yield ledger
    ledger.close()


@pytest.fixture
def client(api_ledger: Ledger) -> Iterator[TestClient]:
    """A test client of the API on that ledger."""
    settings = Settings(database_url="memory://")
    with TestClient(create_app(settings, api_ledger)) as test_client:
        yield test_client


@pytest.fixture
def tokens(api_ledger: Ledger) -> dict[str, str]:
    """A bearer token for each role (the directorate one bound to Hauts-de-France)."""
    made = {
        "admin": create_token(api_ledger, name="admin", role=Role.ADMIN)[0],
        "auditor": create_token(api_ledger, name="auditor", role=Role.AUDITOR)[0],
        "viewer": create_token(api_ledger, name="viewer", role=Role.VIEWER)[0],
        "hdf": create_token(
            api_ledger, name="dr-hdf", role=Role.DIRECTORATE, directorate="hauts_de_france"
        )[0],
    }
    return {role: f"Bearer {token}" for role, token in made.items()}
