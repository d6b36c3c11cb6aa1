"""Group commit: concurrent writes share transactions, and each writer gets its own outcome."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from eventstore.group_commit import GroupCommit


class GatedRecorder(POPOApplicationRecorder):
    """A recorder whose first insert waits at a gate, and that counts its transactions."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.fail_with: Exception | None = None

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        self.calls.append(len(stored_events))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.gate.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        return super().insert_events(stored_events, **kwargs)


def stored(originator: UUID, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=originator, originator_version=version, topic="test:Event", state=b"{}"
    )


def run_writers(
    committer: GroupCommit, recorder: GatedRecorder, batches: list[list[StoredEvent]]
) -> list[Sequence[int] | BaseException]:
    """The first batch holds the gate while the others queue up behind it."""
    outcomes: list[Sequence[int] | BaseException] = [()] * len(batches)

    def write(i: int) -> None:
        try:
            outcomes[i] = committer.insert(batches[i])
        except Exception as error:
            outcomes[i] = error

    first = threading.Thread(target=write, args=(0,))
    first.start()
    assert recorder.entered.wait(10)
    others = [threading.Thread(target=write, args=(i,)) for i in range(1, len(batches))]
    for thread in others:
        thread.start()
    # Every other writer is queued before the gate opens.
    assert committer.wait_queued(len(batches) - 1, 10)
    recorder.gate.set()
    for thread in [first, *others]:
        thread.join(10)
    return outcomes


def test_writers_arriving_together_share_one_transaction() -> None:
    recorder = GatedRecorder()
    committer = GroupCommit(recorder)
    batches = [[stored(uuid4(), 1), stored(uuid4(), 1)] for _ in range(6)]
    outcomes = run_writers(committer, recorder, batches)
    # The first alone, then the five that queued meanwhile together.
    assert recorder.calls == [2, 10]
    positions = [list(o) for o in outcomes if not isinstance(o, BaseException)]
    assert len(positions) == 6
    assert sorted(p for ps in positions for p in ps) == list(range(1, 13))
    for batch, ids in zip(batches, positions, strict=True):
        for event, position in zip(batch, ids, strict=True):
            found = recorder.select_notifications(start=position, limit=1)[0]
            assert (found.originator_id, found.id) == (event.originator_id, position)


def test_a_conflict_fails_only_its_own_writer() -> None:
    recorder = GatedRecorder()
    committer = GroupCommit(recorder)
    taken = uuid4()
    POPOApplicationRecorder.insert_events(recorder, [stored(taken, 1)])
    batches = [[stored(uuid4(), 1)], [stored(uuid4(), 1)], [stored(taken, 1)], [stored(uuid4(), 1)]]
    outcomes = run_writers(committer, recorder, batches)
    assert isinstance(outcomes[2], IntegrityError)
    assert all(not isinstance(outcomes[i], BaseException) for i in (0, 1, 3))
    # The group of three failed together, then was recorded one by one.
    assert recorder.calls == [1, 3, 1, 1, 1]


def test_a_store_failure_reaches_every_writer_of_the_group_once() -> None:
    recorder = GatedRecorder()
    committer = GroupCommit(recorder)
    recorder.fail_with = OperationalError("the store is down")
    outcomes = run_writers(committer, recorder, [[stored(uuid4(), 1)] for _ in range(4)])
    assert all(isinstance(o, OperationalError) for o in outcomes)
    # No writer by writer retry after an outage: the first alone, then the group.
    assert recorder.calls == [1, 3]


def test_the_lead_passes_on_and_nothing_waits_after_a_burst() -> None:
    recorder = GatedRecorder()
    recorder.gate.set()
    committer = GroupCommit(recorder)
    results: list[Sequence[int]] = []
    lock = threading.Lock()

    def write() -> None:
        for _ in range(50):
            ids = committer.insert([stored(uuid4(), 1)])
            with lock:
                results.append(ids)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(ids[0] for ids in results) == list(range(1, 401))
    assert sum(recorder.calls) == 400
    assert not committer._queue
    assert not committer._leading


@pytest.mark.parametrize("size", [1, 3])
def test_groups_never_exceed_the_event_limit(size: int) -> None:
    recorder = GatedRecorder()
    committer = GroupCommit(recorder, max_events=4)
    outcomes = run_writers(
        committer, recorder, [[stored(uuid4(), 1) for _ in range(size)] for _ in range(5)]
    )
    assert all(not isinstance(o, BaseException) for o in outcomes)
    assert all(call <= max(4, size) for call in recorder.calls)
    assert sum(recorder.calls) == 5 * size
