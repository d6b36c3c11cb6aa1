"""Bulk loads record exactly what the ledger's commands record, many events per transaction."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from eventsourcing.utils import get_topic

from demo import load_demo
from demo.bulk import CHUNK_EVENTS, chunks, load_bulk, parse_size
from domain.application import Ledger
from domain.indexes import CommitmentClaim, ProjectReference
from domain.project import Project
from eventstore.settings import library_env


def recorded(ledger: Ledger) -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
    """Each aggregate's events: version, topic and fields, all but the recording time."""
    found: dict[str, list[tuple[int, str, dict[str, Any]]]] = defaultdict(list)
    for notification in ledger.recorder.select_notifications(start=1, limit=1_000_000):
        fields = ledger.mapper.transcoder.decode(notification.state)
        del fields["timestamp"]
        found[str(notification.originator_id)].append(
            (notification.originator_version, notification.topic, fields)
        )
    return dict(found)


def test_sizes_read_as_numbers_of_events() -> None:
    assert parse_size("1m") == 1_000_000
    assert parse_size("100K") == 100_000
    assert parse_size("2500") == 2500
    for bad in ("", "0", "1g", "-5", "1.5m"):
        with pytest.raises(ValueError, match="number of events"):
            parse_size(bad)


def test_chunks_add_up_to_the_size() -> None:
    assert chunks(45_000) == [(0, CHUNK_EVENTS), (1, CHUNK_EVENTS), (2, 5_000)]


def test_the_stories_in_bulk_are_the_events_the_demo_s_commands_record() -> None:
    one_by_one = Ledger(env=library_env("memory://"))
    in_bulk = Ledger(env=library_env("memory://"))
    try:
        summary = load_demo(one_by_one)
        bulk = load_bulk(in_bulk, summary.events)

        assert bulk.events == summary.events
        assert (bulk.projects, bulk.conventions, bulk.commitments) == (
            summary.projects,
            summary.conventions,
            summary.commitments,
        )
        assert recorded(in_bulk) == recorded(one_by_one)
    finally:
        one_by_one.close()
        in_bulk.close()


def test_every_commitment_and_reference_is_claimed_once_ledger_wide() -> None:
    ledger = Ledger(env=library_env("memory://"))
    try:
        report = load_bulk(ledger, 30_000, seed=5)
        topics: dict[str, int] = defaultdict(int)
        for notification in ledger.recorder.select_notifications(start=1, limit=100_000):
            topics[notification.topic] += 1

        assert 30_000 <= report.events == ledger.head_position() <= 30_000 + len(chunks(30_000))
        assert topics[get_topic(CommitmentClaim.CommitmentIdClaimed)] == report.commitments
        new_commitments = sum(
            topics[get_topic(kind)]
            for kind in (Project.LoanGranted, Project.EquityInvested, Project.StudyLaunched)
        )
        assert new_commitments == report.commitments
        assert topics[get_topic(ProjectReference.ReferenceClaimed)] == report.projects
        assert topics[get_topic(Project.ProjectIdentified)] == report.projects
    finally:
        ledger.close()


def test_the_same_seed_and_size_give_the_same_events() -> None:
    first = Ledger(env=library_env("memory://"))
    second = Ledger(env=library_env("memory://"))
    try:
        load_bulk(first, 25_000, seed=3)
        load_bulk(second, 25_000, seed=3)

        assert recorded(first) == recorded(second)
    finally:
        first.close()
        second.close()
