"""Answers cached per read-model state: a totals answer only changes when the log moves."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from projections.db import ReadModelDatabase
from projections.schema import read_live_position


def live_state(db: ReadModelDatabase, read_model: str) -> tuple[int, int]:
    """Return (live generation, its position): what an answer of this read model depends on."""
    with db.transaction(readonly=True) as cur:
        return read_live_position(db, cur, read_model)


class AnswerCache:
    """A bounded LRU of serialised answers, each valid for one (generation, position)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[tuple[int, int], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(
        self,
        key: Hashable,
        state: tuple[int, int],
        compute: Callable[[], bytes],
    ) -> bytes:
        """Return the answer cached for `key` at `state`, else compute and keep it.

        `state` is read before computing: the answer reflects that state or a later one
        (positions only grow), so serving it to anyone who saw `state` is never stale.
        """
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == state:
                self._entries.move_to_end(key)
                return found[1]
        body = compute()
        with self._lock:
            self._entries[key] = (state, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return body
