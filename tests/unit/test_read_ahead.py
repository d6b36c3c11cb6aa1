"""Reading ahead in a thread: items in order, errors raised to the caller, early stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from projections.read_ahead import read_ahead


def test_items_come_in_order() -> None:
    assert list(read_ahead(iter(range(10)), depth=2)) == list(range(10))


def test_an_error_while_reading_ahead_reaches_the_caller_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 unreadable")

    pages = read_ahead(failing())
    first = next(pages)

    assert first == 1
    with pytest.raises(ValueError, match="page 2 unreadable"):
        next(pages)


def test_a_caller_that_stops_early_stops_the_thread() -> None:
    def endless() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    pages = read_ahead(endless(), depth=1)
    first = next(pages)
    pages.close()

    assert first == 0
    assert not any(t.name == "read-ahead" for t in threading.enumerate())
