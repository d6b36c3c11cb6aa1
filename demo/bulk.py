"""Bulk loads: the demo's stories and a national spread grown to any number of events.

The commands are planned as the demo's are (`demo/planner.py`: real territories, themes,
programmes, amounts and dates) and run here on the aggregates, as `Ledger.execute` runs
them: every rule checked, each event stamped with the writer's metadata, each new
commitment and each project reference claimed ledger-wide (`events_to_record`). Only the
transactions differ: thousands of events each, through the recorder's COPY path, instead
of one per command. The store refuses any claim made twice, so a load can never record a
commitment id or a reference that another project holds.

The load is cut into chunks of about `CHUNK_EVENTS` events, each planned from a seed of its
own: chunk 0 starts with the demo's stories (its conventions first), then all is a national
spread. On PostgreSQL the chunks are planned and recorded by several processes, each
recording its chunks in transactions of its own (the event table's lock orders them);
SQLite and the in-memory store get them one after the other in this process.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, CanMutateAggregate

from demo.planned import ACTOR_NAME, NAMESPACE, Step
from demo.planner import SEED, Planner
from demo.stories import plan_demo
from demo.vocabulary import NATIONAL_PROJECTS
from domain.application import Ledger, events_to_record, reference_claim, require_scope
from domain.commands import IdentifyProject, ProjectCommand, SignConvention
from domain.convention import Convention
from domain.errors import NotFoundError
from domain.reference.territories import load_territories
from domain.values import Actor

# Events per chunk: one transaction each (a COPY); the progress moves chunk by chunk.
CHUNK_EVENTS = 20_000
SIZE = re.compile(r"(\d+)([km]?)", re.IGNORECASE)
DIRECTORATES = sorted(NATIONAL_PROJECTS)
WEIGHTS = [NATIONAL_PROJECTS[code] for code in DIRECTORATES]


def parse_size(text: str) -> int:
    """Read a number of events: `1m`, `100k`, `2500`."""
    match = SIZE.fullmatch(text.strip().replace("_", ""))
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a number of events like 1m, 100k or 2500")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(match.group(1)) * scale


@dataclass(frozen=True)
class ChunkReport:
    """What one chunk recorded."""

    events: int
    projects: int
    conventions: int
    commitments: int


class Rehearsal:
    """Runs steps on aggregates held here, recording what `Ledger.execute` would record."""

    def __init__(self) -> None:
        self.aggregates: dict[UUID, Aggregate] = {}
        self.projects = 0
        self.conventions = 0
        self.commitments = 0

    def convention(self, convention_id: UUID) -> Convention:
        """A convention signed earlier in this chunk (what a link's rules read)."""
        found = self.aggregates.get(convention_id)
        if not isinstance(found, Convention):
            raise NotFoundError(f"no convention {convention_id}")
        return found

    def run(self, step: Step, actor: Actor) -> list[CanMutateAggregate[UUID]]:
        """Run one step; return the events its write records, in order."""
        command = step.command
        if isinstance(command, IdentifyProject | SignConvention):
            require_scope(actor, command.directorate)
            aggregate: Aggregate = command.create()
            self.aggregates[aggregate.id] = aggregate
            claim = reference_claim(aggregate)
            events, _ = events_to_record(actor, aggregate, *([claim] if claim else []))
            if isinstance(command, IdentifyProject):
                self.projects += 1
            else:
                self.conventions += 1
            return events
        if not isinstance(command, ProjectCommand):
            raise TypeError(f"{type(command).__name__} is not a command a load runs")
        command.check(self)
        project = self.aggregates[command.project_id]
        require_scope(actor, getattr(project, "directorate", ""))
        command.apply(project, self)  # type: ignore[arg-type]
        events, claimed = events_to_record(actor, project)
        self.commitments += len(claimed)
        return events


def _story_groups() -> Iterator[list[Step]]:
    """The demo's stories: each aggregate's steps in date order, the conventions first."""
    steps = sorted(plan_demo().steps, key=lambda step: (step.on, step.seq))
    groups: dict[UUID, list[Step]] = {}
    for step in steps:
        key = getattr(step.command, "project_id", None) or step.command.convention_id  # type: ignore[attr-defined]
        groups.setdefault(key, []).append(step)
    ordered = sorted(
        groups.values(), key=lambda group: not isinstance(group[0].command, SignConvention)
    )
    yield from ordered


_shared: Planner | None = None


def _spread_groups(seed: int, chunk: int) -> Iterator[list[Step]]:
    """Projects of a national spread, planned one at a time from the chunk's own seed."""
    global _shared  # the territory pools, built once per process
    planner = Planner(f"{seed}:{chunk}", uuid5(NAMESPACE, f"spread:{chunk}"), like=_shared)
    _shared = _shared or planner
    # References stay unique: each chunk numbers from a base of its own, above the stories'
    # (a chunk holds fewer than CHUNK_EVENTS / 2 projects, each recording two events or more).
    planner.serials = dict.fromkeys(DIRECTORATES, (chunk + 1) * CHUNK_EVENTS // 2)
    while True:
        directorate = planner.rng.choices(DIRECTORATES, weights=WEIGHTS)[0]
        planner.national_project(directorate)
        yield sorted(planner.steps, key=lambda step: (step.on, step.seq))
        planner.steps.clear()


def _actors(chunk: int) -> Callable[[Step], Actor]:
    """The writer of each step: the demo, with a correlation id per step."""
    if chunk == 0:
        return lambda step: step.actor  # the demo's own correlation ids, as `funding demo`
    base = uuid5(NAMESPACE, f"spread:{chunk}:correlation").int & ~0xFFFFFFFF

    def actor(step: Step) -> Actor:
        correlation = f"{base + step.seq:032x}"
        return Actor(name=ACTOR_NAME, directorate=step.directorate, correlation_id=correlation)

    return actor


def plan_chunk(
    chunk: int, budget: int, seed: int = SEED
) -> tuple[list[CanMutateAggregate[UUID]], Rehearsal]:
    """The events of one chunk: whole steps until `budget` events (at most one more)."""
    rehearsal = Rehearsal()
    events: list[CanMutateAggregate[UUID]] = []
    spread = _spread_groups(seed, chunk)
    groups = itertools.chain(_story_groups(), spread) if chunk == 0 else spread
    actor = _actors(chunk)
    for group in groups:
        for step in group:
            events.extend(rehearsal.run(step, actor(step)))
            if len(events) >= budget:
                return events, rehearsal
    return events, rehearsal


def record_chunk(ledger: Ledger, chunk: int, budget: int, seed: int = SEED) -> ChunkReport:
    """Plan one chunk and record it in one transaction."""
    events, rehearsal = plan_chunk(chunk, budget, seed)
    stored = [ledger.mapper.to_stored_event(e) for e in events]
    ledger.recorder.insert_events(stored)
    return ChunkReport(
        len(stored), rehearsal.projects, rehearsal.conventions, rehearsal.commitments
    )


def chunks(size: int) -> list[tuple[int, int]]:
    """(chunk, budget) pairs whose budgets add up to `size`."""
    return [
        (index, min(CHUNK_EVENTS, size - start))
        for index, start in enumerate(range(0, size, CHUNK_EVENTS))
    ]


# Worker processes (PostgreSQL) ----------------------------------------------------------------

_worker_ledger: Ledger | None = None


def _start_worker(env: dict[str, str]) -> None:
    global _worker_ledger  # one ledger per worker process
    load_territories()
    _worker_ledger = Ledger(env=env)


def _work(task: tuple[int, int, int]) -> ChunkReport:
    assert _worker_ledger is not None  # noqa: S101 - set by the pool's initializer
    chunk, budget, seed = task
    return record_chunk(_worker_ledger, chunk, budget, seed)


def load_bulk(
    ledger: Ledger,
    size: int,
    *,
    env: dict[str, str] | None = None,
    workers: int | None = None,
    seed: int = SEED,
    progress: Callable[[ChunkReport], None] | None = None,
) -> ChunkReport:
    """Record about `size` events (never fewer, at most one more per chunk).

    With `env`, the ledger's settings on a PostgreSQL store, `workers` processes (as many as
    cores by default) plan and record the chunks; otherwise this process records them into
    `ledger`. Returns the sums over every chunk.
    """
    tasks = [(chunk, budget, seed) for chunk, budget in chunks(size)]
    reports: list[ChunkReport] = []
    count = workers or os.cpu_count() or 1
    if env is not None and count > 1 and len(tasks) > 1:
        context = multiprocessing.get_context("spawn")
        with context.Pool(count, initializer=_start_worker, initargs=(env,)) as pool:
            for report in pool.imap_unordered(_work, tasks):
                reports.append(report)
                if progress is not None:
                    progress(report)
    else:
        for chunk, budget, chunk_seed in tasks:
            report = record_chunk(ledger, chunk, budget, chunk_seed)
            reports.append(report)
            if progress is not None:
                progress(report)
    return _sum(reports)


def _sum(reports: Sequence[ChunkReport]) -> ChunkReport:
    return ChunkReport(
        sum(r.events for r in reports),
        sum(r.projects for r in reports),
        sum(r.conventions for r in reports),
        sum(r.commitments for r in reports),
    )
