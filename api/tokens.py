"""Access tokens: issued and revoked as events, stored as SHA-256 hashes, never in clear."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from starlette.concurrency import run_in_threadpool

from domain.application import Ledger
from domain.errors import InvalidValueError, NotFoundError
from domain.reference import directorate as find_directorate
from domain.tokens import ISSUED_TOPICS, AccessToken, Role
from domain.values import Actor, text
from eventstore.watchdog import WATCHDOG

TOKEN_PREFIX = "ft_"  # noqa: S105 - a marker, not a secret


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
    found: list[TokenInfo] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start=start, limit=500, topics=ISSUED_TOPICS)
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
    every process. On PostgreSQL, once `open()` ran in the server's event loop, `check()`
    asks from that loop (no worker thread per request); otherwise it asks from a thread.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._known: dict[UUID, AccessToken] = {}
        self._lock = threading.Lock()
        self._probe: TokenEventProbe | None = None

    def __call__(self, presented: str) -> Principal | None:
        """Return the principal of a valid, unrevoked token, or None."""
        found = self._lookup(presented)
        if found is None:
            return None
        digest, record_id, record = found
        newer = self.ledger.recorder.select_events(
            record_id, gt=None if record is None else record.version, limit=1
        )
        if newer:
            record = self._reload(record_id)
        return _principal(record, digest)

    async def check(self, presented: str) -> Principal | None:
        """`__call__` for the event loop: the store is asked without blocking it."""
        probe = self._probe
        if probe is None or not probe.serves_this_loop():
            return await run_in_threadpool(self, presented)
        found = self._lookup(presented)
        if found is None:
            return None
        digest, record_id, record = found
        if await probe.has_newer(record_id, None if record is None else record.version):
            record = await run_in_threadpool(self._reload, record_id)
        return _principal(record, digest)

    async def open(self) -> None:
        """PostgreSQL: open the connections `check()` uses from the running event loop.

        One loop at a time has them: the first to open (a server has one loop; tests may
        run several clients on one app); checks from any other loop ask from a thread.
        """
        from eventsourcing.postgres import PostgresApplicationRecorder

        recorder = self.ledger.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            return
        with self._lock:
            if self._probe is not None:
                return
            probe = self._probe = TokenEventProbe(recorder)
        await probe.open()

    async def close(self) -> None:
        """Close what `open()` opened, from the loop that opened it."""
        probe = self._probe
        if probe is None or not probe.serves_this_loop():
            return
        self._probe = None
        await probe.close()

    def _lookup(self, presented: str) -> tuple[str, UUID, AccessToken | None] | None:
        if not presented.startswith(TOKEN_PREFIX) or len(presented) > 200:
            return None
        digest = hash_token(presented)
        record_id = token_id(digest)
        return digest, record_id, self._known.get(record_id)

    def _reload(self, record_id: UUID) -> AccessToken | None:
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
        return found


def _principal(record: AccessToken | None, digest: str) -> Principal | None:
    if record is None or record.revoked:
        return None
    if not hmac.compare_digest(record.token_hash, digest):
        return None
    return Principal(record.name, record.role, record.directorate, record.id)


class TokenEventProbe:
    """Asks PostgreSQL, from an event loop, whether tokens have events newer than a version.

    The questions arriving while one is being answered are asked together in the next
    statement: one round trip answers every request waiting, each of them asked after it
    arrived (a revocation committed before a request is always seen by its check). Its own
    small pool of asynchronous connections, bound to the loop that opened it; a connection
    broken by a server restart is dropped and the question asked again on another; a store
    that does not answer within `timeout` raises (psycopg's OperationalError: a 503).
    """

    def __init__(self, recorder: Any, max_size: int = 2, timeout: float = 5.0) -> None:
        from psycopg_pool import AsyncConnectionPool

        datastore = recorder.datastore
        kwargs = {k: v for k, v in datastore.pool.kwargs.items() if k != "row_factory"}
        # One statement per question: no transaction to begin, nor to roll back on return.
        kwargs["autocommit"] = True
        table = f'"{datastore.schema or "public"}"."{recorder.events_table_name}"'
        self.query = (
            "SELECT originator_id, MAX(originator_version) "  # noqa: S608 - the library's table
            f"FROM {table} WHERE originator_id = ANY(%s) GROUP BY originator_id"
        )
        self.max_size = max_size
        self.timeout = timeout
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            kwargs=kwargs,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=timeout,
            name="token-checks",
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[tuple[UUID, int, asyncio.Future[bool]]] = []
        self._asking: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Open the pool in the running loop (it connects in the background)."""
        await self.pool.open(wait=False)
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        """Close the pool."""
        self._loop = None
        await self.pool.close()

    def serves_this_loop(self) -> bool:
        """Whether the pool belongs to the running event loop."""
        try:
            return self._loop is asyncio.get_running_loop()
        except RuntimeError:
            return False

    async def has_newer(self, record_id: UUID, version: int | None) -> bool:
        """Whether the token's record has an event after `version` (any, if None)."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((record_id, -1 if version is None else version, answer))
        if self._asking is None:
            self._asking = asyncio.create_task(self._ask_waiting())
        return await answer

    async def _ask_waiting(self) -> None:
        try:
            while self._waiting:
                asked, self._waiting = self._waiting, []
                try:
                    latest = await self._latest_versions(list({rid for rid, _, _ in asked}))
                except Exception as error:  # handed to every request that asked
                    for _, _, answer in asked:
                        if not answer.done():
                            answer.set_exception(error)
                    continue
                for record_id, version, answer in asked:
                    if not answer.done():
                        answer.set_result(latest.get(record_id, -1) > version)
        finally:
            self._asking = None

    async def _latest_versions(self, record_ids: list[UUID]) -> dict[UUID, int]:
        from psycopg import OperationalError
        from psycopg_pool import PoolTimeout

        # One deadline for the whole check, whatever the number of tries.
        deadline = time.monotonic() + self.timeout
        for attempt in range(self.max_size + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise OperationalError("the store did not answer the token check in time")
            try:
                async with self.pool.connection(timeout=left) as conn:
                    with WATCHDOG.guard(conn, left, "token check"):
                        cur = await conn.execute(self.query, (record_ids,), prepare=True)
                        return {row[0]: int(row[1]) for row in await cur.fetchall()}
            except PoolTimeout:
                raise
            except OperationalError:
                # A connection the server dropped: the pool discards it; ask on another.
                if attempt == self.max_size:
                    raise
        raise AssertionError("unreachable")


def authenticate(ledger: Ledger, presented: str) -> Principal | None:
    """Return the principal of a valid, unrevoked token, or None (no records remembered)."""
    return Authenticator(ledger)(presented)


def _info(record: AccessToken) -> TokenInfo:
    return TokenInfo(record.id, record.name, record.role, record.directorate, record.revoked)
