"""Streaming helpers shared by the exports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

# Bytes gathered before a chunk is handed on: large enough for few writes, small in memory.
CHUNK_BYTES = 64 * 1024


def buffered(parts: Iterable[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Yield the parts joined into chunks of about `size` bytes (the last may be smaller)."""
    pending: list[bytes] = []
    held = 0
    for part in parts:
        pending.append(part)
        held += len(part)
        if held >= size:
            yield b"".join(pending)
            pending.clear()
            held = 0
    if pending:
        yield b"".join(pending)
