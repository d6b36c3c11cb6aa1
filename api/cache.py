"""Answers cached per read-model state: a totals answer only changes when the log moves."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.tokens import Authenticator, bearer_token
from projections.db import ReadModelDatabase
from projections.generations import read_live_position
from projections.live import LiveStates, State


def live_state(db: ReadModelDatabase, read_model: str) -> State:
    """Return (live generation, its position): what an answer of this read model depends on."""
    with db.statement() as cur:
        return read_live_position(db, cur, read_model)


# What an entry costs besides its body: its key, state and the dictionary's slot, roughly.
ENTRY_OVERHEAD = 256
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# An answer larger than this share of the cache is not kept: a few large answers would
# otherwise evict every small one that dashboards repeat.
LARGEST_ENTRY_SHARE = 8


class AnswerCache:
    """An LRU of serialised answers bounded in bytes, each valid for one (generation, position).

    An answer is stored under the state read *before* computing it: it reflects that state
    or a later one (positions only grow), so serving it to anyone who saw that state is
    never stale. The least recently used answers are evicted until the bodies and their
    keys fit in `max_bytes`; an answer over `max_bytes / LARGEST_ENTRY_SHARE` is not kept.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // LARGEST_ENTRY_SHARE
        self._entries: OrderedDict[Hashable, tuple[State, bytes, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        """The bytes the entries are reckoned to hold."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, state: State) -> bytes | None:
        """The answer cached for `key` at `state`, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] != state:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, state: State, body: bytes) -> None:
        """Keep an answer computed after reading `state`, unless it is too large to."""
        weight = len(body) + len(repr(key)) + ENTRY_OVERHEAD
        with self._lock:
            self._drop(key)
            if weight > self.max_entry_bytes:
                return
            self._entries[key] = (state, body, weight)
            self._bytes += weight
            while self._bytes > self.max_bytes:
                _, (_, _, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def _drop(self, key: Hashable) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self._bytes -= found[2]


TOTALS_PATH = "/v1/totals"


def remember_raw(cache: AnswerCache, scope: Scope, state: State, body: bytes) -> None:
    """Keep a JSON totals answer under its request's exact query string too (see CachedTotals)."""
    cache.put(("raw", bytes(scope.get("query_string", b""))), state, body)


class CachedTotals:
    """Answers a repeated `GET /v1/totals` straight from the answer cache.

    Dashboards ask the same questions over and over: once the app has answered a query
    string (validated, with a 200) at the read model's current state, the same query string
    is answered with the same bytes until the read model moves, after authenticating the
    caller (every role may read totals). Anything else (another path, a first question,
    `min_position`, CSV, a missing or refused token, no state followed in memory) goes
    through the app as usual.
    """

    def __init__(
        self,
        app: ASGIApp,
        cache: AnswerCache,
        states: LiveStates,
        authenticate: Authenticator,
        public_read: bool,
    ) -> None:
        self.app = app
        self.cache = cache
        self.states = states
        self.authenticate = authenticate
        self.public_read = public_read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == TOTALS_PATH:
            body = await self._cached(scope)
            if body is not None:
                await _send_json(send, body)
                return
        await self.app(scope, receive, send)

    async def _cached(self, scope: Scope) -> bytes | None:
        query = bytes(scope.get("query_string", b""))
        if b"min_position" in query or b"format" in query:
            return None
        state = self.states.current("totals")
        body = None if state is None else self.cache.get(("raw", query), state)
        if body is None:
            return None
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            if not self.public_read:
                return None
            principal: Any = None
        else:
            presented = bearer_token(bytes(header).decode("latin-1"))
            if presented is None:
                return None
            try:
                principal = await self.authenticate.check(presented)
            except (psycopg.Error, PersistenceError):
                # A store fault: the app answers it (503) as for any request.
                return None
            if principal is None:
                return None
        # What the canonical log line tells of the request.
        scope.setdefault("state", {}).update(principal=principal, route=TOTALS_PATH)
        return body


async def _send_json(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
