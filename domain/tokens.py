"""Access tokens as the ledger records them: issued and revoked, kept as a hash and a role."""

from __future__ import annotations

from dataclasses import field
from enum import StrEnum
from typing import ClassVar

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic, register_topic


class Role(StrEnum):
    """What a token may do (see API.md)."""

    ADMIN = "admin"
    DIRECTORATE = "directorate"
    AUDITOR = "auditor"
    VIEWER = "viewer"


class AccessToken(Aggregate):
    """A bearer token's record: its hash, name, role and directorate."""

    class Event(Aggregate.Event):
        """Base of the token events."""

        meta: dict[str, str] = field(default_factory=dict, kw_only=True)

    class TokenIssued(Event, Aggregate.Created):
        # Left out of every read of the log (see api.routes.audit): the hash is the key a
        # presented token is looked up by, and an unsalted SHA-256 of it.
        secret_fields: ClassVar[frozenset[str]] = frozenset({"token_hash"})

        name: str
        role: str
        directorate: str | None
        token_hash: str

    class TokenRevoked(Event):
        pass

    @event(TokenIssued)
    def __init__(self, name: str, role: str, directorate: str | None, token_hash: str) -> None:
        self.name = name
        self.role = Role(role)
        self.directorate = directorate
        self.token_hash = token_hash
        self.revoked = False

    @event(TokenRevoked)
    def revoke(self) -> None:
        """Revoke the token: it stops working at once."""
        self.revoked = True


# The class was `api.tokens:AccessToken` until 2026-12: stores written before name its events
# (`api.tokens:AccessToken.TokenIssued`, ...) by that topic, which resolves to it through this.
FORMER_TOPIC = "api.tokens:AccessToken"
register_topic(FORMER_TOPIC, AccessToken)

# A token's issue is stored under today's topic or, in stores written before, the former.
ISSUED_TOPICS = (get_topic(AccessToken.TokenIssued), f"{FORMER_TOPIC}.TokenIssued")
