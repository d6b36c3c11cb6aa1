"""Answers cached per read-model state: a totals answer only changes when the log moves."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from projections.db import ReadModelDatabase
from projections.live import LiveStates, State
from projections.schema import read_live_position


def live_state(db: ReadModelDatabase, read_model: str) -> State:
    """Return (live generation, its position): what an answer of this read model depends on."""
    with db.statement() as cur:
        return read_live_position(db, cur, read_model)


def known_state(states: LiveStates, read_model: str) -> State | None:
    """The state as followed in memory, or None when the database must be read."""
    return states.current(read_model)


class AnswerCache:
    """A bounded LRU of serialised answers, each valid for one (generation, position).

    An answer is stored under the state read *before* computing it: it reflects that state
    or a later one (positions only grow), so serving it to anyone who saw that state is
    never stale.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[State, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, state: State) -> bytes | None:
        """The answer cached for `key` at `state`, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] != state:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, state: State, body: bytes) -> None:
        """Keep an answer computed after reading `state`."""
        with self._lock:
            self._entries[key] = (state, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
