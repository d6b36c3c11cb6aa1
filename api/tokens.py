"""Access tokens: issued and revoked as events, stored as SHA-256 hashes, never in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from domain.application import Ledger
from domain.errors import InvalidValueError, NotFoundError
from domain.reference import directorate as find_directorate
from domain.values import Actor, text

TOKEN_PREFIX = "ft_"  # noqa: S105 - a marker, not a secret


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


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as."""

    name: str
    role: Role
    directorate: str | None = None
    token_id: UUID | None = None

    def actor(self, correlation_id: str) -> Actor:
        """The domain actor for this principal's writes."""
        bound = self.directorate if self.role is Role.DIRECTORATE else None
        return Actor(name=self.name, directorate=bound, correlation_id=correlation_id)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    id: UUID
    name: str
    role: Role
    directorate: str | None
    revoked: bool


def hash_token(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token_hash: str) -> UUID:
    """Return the aggregate id under which a token's hash is recorded."""
    return uuid5(NAMESPACE_URL, f"funding-tracker:token:{token_hash}")


def create_token(
    ledger: Ledger, *, name: str, role: Role, directorate: str | None = None
) -> tuple[str, TokenInfo]:
    """Issue a new token; return it (shown once) with its record."""
    name = text(name, "name", max_length=100)
    if role is Role.DIRECTORATE:
        if directorate is None:
            raise InvalidValueError("directorate", "a directorate token needs --directorate")
        find_directorate(directorate)
    elif directorate is not None:
        raise InvalidValueError("directorate", f"a {role} token is not bound to a directorate")
    if any(t.name == name and not t.revoked for t in list_tokens(ledger)):
        raise InvalidValueError("name", f"an active token is already named {name!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = hash_token(secret)
    record = AccessToken._create(
        AccessToken.TokenIssued,
        id=token_id(digest),
        name=name,
        role=role.value,
        directorate=directorate,
        token_hash=digest,
    )
    ledger.save(record)
    return secret, _info(record)


def list_tokens(ledger: Ledger) -> list[TokenInfo]:
    """Return every token ever issued, in issue order."""
    topic = get_topic(AccessToken.TokenIssued)
    found: list[TokenInfo] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start=start, limit=500, topics=[topic])
        if not page:
            return found
        for notification in page:
            record: AccessToken = ledger.repository.get(UUID(str(notification.originator_id)))
            found.append(_info(record))
        start = page[-1].id + 1


def revoke_token(ledger: Ledger, name_or_id: str) -> list[TokenInfo]:
    """Revoke the active tokens with this name (or this id); return them."""
    targets = [
        t
        for t in list_tokens(ledger)
        if not t.revoked and (t.name == name_or_id or str(t.id) == name_or_id)
    ]
    if not targets:
        raise NotFoundError(f"no active token named {name_or_id!r}")
    for target in targets:
        record: AccessToken = ledger.repository.get(target.id)
        record.revoke()
        ledger.save(record)
    return targets


def bearer_token(authorization: str) -> str | None:
    """The token an `Authorization: Bearer <token>` header presents, or None for another scheme."""
    scheme, _, presented = authorization.partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else None


class Authenticator:
    """Checks bearer tokens against their records, remembering the records it has read.

    Each check still asks the store for the token's events newer than the record it knows
    (one indexed read, concurrent with every other check): a revocation counts at once, in
    every process.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._known: dict[UUID, AccessToken] = {}
        self._lock = threading.Lock()

    def __call__(self, presented: str) -> Principal | None:
        """Return the principal of a valid, unrevoked token, or None."""
        if not presented.startswith(TOKEN_PREFIX) or len(presented) > 200:
            return None
        digest = hash_token(presented)
        record_id = token_id(digest)
        record = self._known.get(record_id)
        newer = self.ledger.recorder.select_events(
            record_id, gt=None if record is None else record.version, limit=1
        )
        if newer:
            try:
                found: object = self.ledger.repository.get(record_id)
            except AggregateNotFoundError:
                return None
            if not isinstance(found, AccessToken):
                return None
            with self._lock:
                known = self._known.get(record_id)
                if known is None or known.version < found.version:
                    self._known[record_id] = found
            record = found
        if record is None or record.revoked:
            return None
        if not hmac.compare_digest(record.token_hash, digest):
            return None
        return Principal(record.name, record.role, record.directorate, record.id)


def authenticate(ledger: Ledger, presented: str) -> Principal | None:
    """Return the principal of a valid, unrevoked token, or None (no records remembered)."""
    return Authenticator(ledger)(presented)


def _info(record: AccessToken) -> TokenInfo:
    return TokenInfo(record.id, record.name, record.role, record.directorate, record.revoked)
