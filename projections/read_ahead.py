"""Reading ahead: an iterator's next items made in a thread while the caller uses the last."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
# How long a blocked hand-over waits before it looks whether the other side gave up.
POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


_DONE = object()


def read_ahead(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """Yield the items of `items`, made up to `depth` ahead in a thread of their own.

    The thread reads and decodes (the database and the interpreter work on the next page)
    while the caller applies the last one. An error in the thread is raised to the caller;
    a caller that stops early stops the thread.
    """
    handed: queue.Queue[object] = queue.Queue(depth)
    stopped = threading.Event()

    def put(item: object) -> bool:
        while not stopped.is_set():
            with suppress(queue.Full):
                handed.put(item, timeout=POLL_SECONDS)
                return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:
            put(_Failed(error))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = handed.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stopped.set()
        thread.join()
