"""Choosing the replica or the primary for a read-model query, without a database."""

from __future__ import annotations

from typing import Any, cast

import psycopg
import pytest
from fastapi import Response
from pydantic import ValidationError

from api.read_source import READ_FROM, Reading, Source
from api.settings import Settings
from projections.db import ReadModelDatabase
from projections.replica import ReplicaStates, parse_lsn

PRIMARY = cast(ReadModelDatabase, "primary")
REPLICA_DB = cast(ReadModelDatabase, "replica")


def reading(source: Source) -> tuple[Reading, ReplicaStates, Response]:
    replica = ReplicaStates(REPLICA_DB)
    response = Response()
    return Reading(None, PRIMARY, replica, source, response), replica, response


def failing_on_replica(error: Exception) -> Any:
    def query(db: ReadModelDatabase) -> str:
        if db is REPLICA_DB:
            raise error
        return f"answered by {db}"

    return query


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("connection refused"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    ],
)
def test_a_replica_without_a_connection_is_marked_down_and_the_primary_answers(
    error: psycopg.Error,
) -> None:
    read, replica, response = reading(Source.REPLICA)
    assert response.headers[READ_FROM] == "replica"

    answer = read.run(failing_on_replica(error))

    assert answer == "answered by primary"
    assert response.headers[READ_FROM] == "primary"
    assert read.headers == {READ_FROM: "primary"}
    assert replica._up is False


def test_a_query_the_replica_cancels_is_read_from_the_primary_without_marking_it_down() -> None:
    read, replica, response = reading(Source.REPLICA)

    conflict = psycopg.errors.SerializationFailure("conflict with recovery")
    answer = read.run(failing_on_replica(conflict))

    assert answer == "answered by primary"
    assert response.headers[READ_FROM] == "primary"
    assert replica._up is True


def test_an_error_of_the_question_itself_is_not_retried_on_the_primary() -> None:
    read, _, response = reading(Source.REPLICA)

    with pytest.raises(ValueError, match="bad filter"):
        read.run(failing_on_replica(ValueError("bad filter")))
    assert response.headers[READ_FROM] == "replica"


def test_a_read_from_the_primary_never_touches_the_replica() -> None:
    read, _, response = reading(Source.PRIMARY)

    assert read.run(failing_on_replica(AssertionError("replica used"))) == "answered by primary"
    assert response.headers[READ_FROM] == "primary"


@pytest.mark.parametrize(
    "database_url",
    ["sqlite:///./var/funding.sqlite3", "memory://"],
)
def test_a_read_replica_needs_a_postgresql_store(database_url: str) -> None:
    with pytest.raises(ValidationError, match="FUNDING_READ_DATABASE_URL"):
        Settings(database_url=database_url, read_database_url="postgresql://u@replica/db")


def test_a_read_replica_must_be_postgresql() -> None:
    with pytest.raises(ValidationError, match="FUNDING_READ_DATABASE_URL"):
        Settings(
            database_url="postgresql://u@primary/db", read_database_url="sqlite:///copy.sqlite3"
        )


def test_an_empty_read_replica_url_means_none() -> None:
    assert (
        Settings(database_url="sqlite:///x.sqlite3", read_database_url="").read_database_url is None
    )


def test_a_postgresql_store_may_have_a_read_replica() -> None:
    settings = Settings(
        database_url="postgresql://u@primary/db", read_database_url="postgresql://u@replica/db"
    )
    assert settings.read_database_url == "postgresql://u@replica/db"


@pytest.mark.parametrize(
    ("lsn", "offset"),
    [("0/0", 0), ("0/3000060", 0x3000060), ("16/B374D848", (0x16 << 32) + 0xB374D848)],
)
def test_a_wal_location_is_a_byte_offset(lsn: str, offset: int) -> None:
    assert parse_lsn(lsn) == offset
