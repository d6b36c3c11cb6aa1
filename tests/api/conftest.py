"""API fixtures: an app on a fresh store, and a token per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env
from projections.db import ReadModelDatabase


@pytest.fixture
def api_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a fresh SQLite store."""
    return f"sqlite:///{tmp_path_factory.mktemp('api') / 'ledger.sqlite3'}"


@pytest.fixture
def api_ledger(api_url: str) -> Iterator[Ledger]:
    """A ledger on that store."""
    ledger = Ledger(env=library_env(api_url))
    yield ledger
    ledger.close()


@pytest.fixture
def read_models(api_url: str) -> Iterator[ReadModelDatabase]:
    """The read models beside that ledger (tests catch them up explicitly)."""
    db = ReadModelDatabase.from_url(api_url)
    yield db
    db.close()


@pytest.fixture
def client(
    api_url: str, api_ledger: Ledger, read_models: ReadModelDatabase
) -> Iterator[TestClient]:
    """A test client of the API on that ledger and its read models."""
    settings = Settings(database_url=api_url, read_wait_timeout=2)
    with TestClient(create_app(settings, api_ledger, read_models)) as test_client:
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
