"""Settings: the one place that reads the environment (variables prefixed FUNDING_)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventstore.settings import library_env, sqlite_path
from projections.db import is_postgres_url


class LogFormat(StrEnum):
    """How log lines are rendered."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class Settings(BaseSettings):
    """Configuration of every entry point: API server, projector and CLI."""

    model_config = SettingsConfigDict(env_prefix="FUNDING_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/funding.sqlite3",
        description="The store: sqlite:///path (embedded) or postgresql://user:pass@host/db.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="A streaming replica of the PostgreSQL store for read-model queries "
        "(postgresql://…); writes, tokens, idempotency, audit and events stay on the primary.",
    )
    public_read: bool = Field(
        default=False, description="Let requests without a token read as a viewer."
    )
    reporting_schema: str = Field(
        default="reporting", description="PostgreSQL schema of the read models."
    )
    log_format: LogFormat = LogFormat.AUTO
    log_level: str = "INFO"
    poll_interval: float = Field(
        default=0.5, gt=0, description="Seconds between polls of the log for new events."
    )
    read_wait_timeout: float = Field(
        default=5.0, gt=0, description="Longest wait of a read asking for min_position."
    )
    max_body_bytes: int = 1024 * 1024
    totals_max_rows: int = Field(
        default=10_000,
        ge=1,
        description="Most rows of a totals answer: a larger one is refused (422), to be narrowed.",
    )
    answer_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Memory kept for cached totals answers per process (0: none); an answer "
        "over an eighth of it is not cached.",
    )

    @field_validator("read_database_url", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # FUNDING_READ_DATABASE_URL= (e.g. from docker-compose's ${VAR:-}) means no replica.
        return None if value == "" else value

    @model_validator(mode="after")
    def _replica_of_postgres(self) -> Settings:
        if self.read_database_url is not None and not (
            is_postgres_url(self.database_url) and is_postgres_url(self.read_database_url)
        ):
            raise ValueError(
                "FUNDING_READ_DATABASE_URL names a streaming replica of a PostgreSQL store: "
                "both it and FUNDING_DATABASE_URL must be postgresql://… URLs"
            )
        return self

    publisher_name: str = Field(
        default="Funding ledger",
        min_length=1,
        description="The publishing organisation's name in the exports (IATI reporting-org, "
        "SCDL nomAttribuant).",
    )
    publisher_siret: str = Field(
        default="00000000000000",
        pattern=r"^\d{14}$",
        description="The publisher's SIRET, 14 digits (SCDL idAttribuant); a placeholder "
        "until set.",
    )
    iati_org_ref: str = Field(
        default="FR-RCS-000000000",
        pattern=r"^[A-Za-z0-9]{2,}-[A-Za-z0-9]+-\S+$",
        description="The publisher's IATI organisation identifier, {agency}-{number} from "
        "org-id.guide; it prefixes every iati-identifier. A placeholder until set.",
    )
    iati_org_type: str = Field(
        default="15",
        pattern=r"^\d{2}$",
        description="The publisher's IATI OrganisationType code (15: other public sector).",
    )

    audit_key_file: Path = Field(
        default=Path("./var/audit-signing-key.pem"),
        description="The Ed25519 private key that signs tree heads (PEM, mode 0600), made by "
        "`funding audit keygen`; never stored in the database.",
    )
    audit_public_keys: list[Path] = Field(
        default_factory=list,
        description="PEM public keys of retired signing keys (a JSON list of files): the "
        "tree heads they signed still verify.",
    )

    def ledger_env(self) -> dict[str, str]:
        """Return the event store settings for the eventsourcing library."""
        return library_env(self.database_url)

    def prepare_storage(self) -> None:
        """Create the directory of an embedded SQLite file."""
        path = sqlite_path(self.database_url)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
