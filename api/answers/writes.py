"""What a write answers: the aggregate written, its new version and the write's log position."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field, PlainSerializer

from domain.outcomes import Written

POSITION = Field(description="The write's place in the global log: read with min_position=it.")
VERSION = Field(description="The aggregate's version after the write.")
Money = Annotated[Decimal, PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json")]


class WriteWarning(BaseModel):
    """Something true of a recorded write the writer should know (it was recorded)."""

    code: str = Field(description="over-envelope: the convention's projects now commit more")
    convention: UUID
    envelope: Money
    committed: Money = Field(description="What the convention's projects commit, net.")
    detail: str


WARNINGS_DESCRIPTION = "Warnings about the recorded write (over-envelope); absent if none."


class ProjectWritten(BaseModel):
    """A write to a project: its new version and the write's log position."""

    id: UUID
    project_id: UUID
    version: int = VERSION
    position: int = POSITION

    @classmethod
    def of(cls, written: Written, path: dict[str, Any]) -> ProjectWritten:  # noqa: ARG003
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
    warnings: list[WriteWarning] | None = Field(default=None, description=WARNINGS_DESCRIPTION)

    @classmethod
    def of(cls, written: Written, path: dict[str, Any]) -> CommitmentWritten:  # noqa: ARG003
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

    @classmethod
    def of(cls, written: Written, path: dict[str, Any]) -> ConventionWritten:  # noqa: ARG003
        """Build the answer to a convention write."""
        return cls(id=written.id, version=written.version, position=written.position)


class LinkWritten(BaseModel):
    """A project placed under a convention."""

    project_id: UUID
    convention_id: UUID
    version: int = VERSION
    position: int = POSITION
    warnings: list[WriteWarning] | None = Field(default=None, description=WARNINGS_DESCRIPTION)

    @classmethod
    def of(cls, written: Written, path: dict[str, Any]) -> LinkWritten:
        """Build the answer to a link: the project written, the convention of the path."""
        return cls(
            project_id=written.id,
            convention_id=path["convention_id"],
            version=written.version,
            position=written.position,
        )


# Each kind of write answer.
Answer = (
    type[ProjectWritten] | type[CommitmentWritten] | type[ConventionWritten] | type[LinkWritten]
)
