"""The answer cache holds a bounded number of bytes, evicting the least recently used."""

from __future__ import annotations

from api.cache import ENTRY_OVERHEAD, AnswerCache

STATE = (1, 10)


def weight(key: str, body: bytes) -> int:
    """What an entry is reckoned to cost."""
    return len(body) + len(repr(key)) + ENTRY_OVERHEAD


def test_the_least_recently_used_answer_is_evicted_to_keep_within_the_bytes() -> None:
    body = b"x" * 1000
    cache = AnswerCache(max_bytes=10 * weight("0", body))
    for index in range(10):
        cache.put(str(index), STATE, body)
    cache.get("0", STATE)

    cache.put("a", STATE, body)

    assert cache.get("1", STATE) is None
    assert all(cache.get(key, STATE) == body for key in ("0", "2", "9", "a"))
    assert len(cache) == 10
    assert cache.held_bytes <= cache.max_bytes


def test_one_large_answer_evicts_as_many_small_ones_as_it_needs() -> None:
    small, large = b"s" * 100, b"L" * 3000
    cache = AnswerCache(max_bytes=8 * weight("big", large))
    fitting = cache.max_bytes // weight("000", small)
    for index in range(fitting):
        cache.put(f"{index:03}", STATE, small)
    room = cache.max_bytes - cache.held_bytes
    evicted = -(-(weight("big", large) - room) // weight("000", small))

    cache.put("big", STATE, large)

    assert cache.get("big", STATE) == large
    assert cache.get(f"{evicted - 1:03}", STATE) is None
    assert cache.get(f"{evicted:03}", STATE) == small
    assert len(cache) == fitting - evicted + 1
    assert cache.held_bytes <= cache.max_bytes


def test_an_answer_larger_than_an_eighth_of_the_cache_is_not_kept() -> None:
    cache = AnswerCache(max_bytes=80_000)
    cache.put("small", STATE, b"s" * 100)

    cache.put("huge", STATE, b"h" * 10_000)

    assert cache.get("huge", STATE) is None
    assert cache.get("small", STATE) == b"s" * 100
    assert len(cache) == 1


def test_an_answer_replaced_under_its_key_is_counted_once() -> None:
    cache = AnswerCache(max_bytes=100_000)

    for position in range(50):
        cache.put("same question", (1, position), b"a" * 1000)

    assert len(cache) == 1
    assert cache.held_bytes == weight("same question", b"a" * 1000)
    assert cache.get("same question", (1, 49)) == b"a" * 1000
    assert cache.get("same question", (1, 48)) is None


def test_a_new_answer_too_large_to_keep_drops_the_stale_one_under_its_key() -> None:
    cache = AnswerCache(max_bytes=80_000)
    cache.put("question", (1, 1), b"small")

    cache.put("question", (1, 2), b"h" * 20_000)

    assert cache.get("question", (1, 1)) is None
    assert cache.held_bytes == 0


def test_the_app_bounds_its_answer_cache_by_the_setting() -> None:
    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(database_url="memory://", answer_cache_bytes=123_456))

    assert app.state.totals_cache.max_bytes == 123_456
