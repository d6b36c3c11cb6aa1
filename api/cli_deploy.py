"""Commands of the `funding` CLI for setting a store up: `funding migrate`, `funding demo`."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from api.cli_common import cli_settings
from api.settings import Settings
from domain.application import Ledger

err = Console(stderr=True)


def migrate() -> None:
    """Create the store's tables and the read models' empty tables, then exit (idempotent).

    Run once before `funding serve --no-projector` and `funding projector` start, so that
    none of them races to create what the others need.
    """
    from projections.db import ReadModelDatabase
    from projections.generations import ensure_live_generation
    from projections.registry import READ_MODELS

    settings = cli_settings()
    settings.prepare_storage()
    ledger = Ledger(env=settings.ledger_env())  # creates the event table if missing
    try:
        db = ReadModelDatabase.from_url(settings.database_url, settings.reporting_schema)
        try:
            for name in READ_MODELS:
                generation = ensure_live_generation(db, name)
                err.print(f"read model {name}: generation {generation} is live")
        finally:
            db.close()
        err.print(f"event log ready: {ledger.head_position():,} events")
    finally:
        ledger.close()


def demo(
    size: Annotated[
        str | None,
        typer.Option(
            help="Load about this many events in bulk (1m, 100k, 10k): the demo's stories "
            "and a national spread.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes loading into PostgreSQL (default: one per core)."),
    ] = None,
) -> None:
    """Load the demo data set into a store without projects (tokens may exist already)."""
    from demo import holds_projects, load_demo

    events = size_option(size)
    settings = cli_settings()
    settings.prepare_storage()
    ledger = Ledger(env=settings.ledger_env())
    try:
        if holds_projects(ledger):
            err.print("The store already holds projects or conventions: nothing loaded.")
            return
        if events is not None:
            load_sized_demo(settings, ledger, events, workers)
            return
        with Progress(
            TextColumn("demo data"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("load", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = load_demo(ledger, advance)
        err.print(
            f"Loaded {summary.projects} projects, {summary.conventions} conventions, "
            f"{summary.commitments} commitments: {summary.events} events."
        )
    finally:
        ledger.close()


def load_sized_demo(settings: Settings, ledger: Ledger, size: int, workers: int | None) -> None:
    """Record about `size` events of demo data in bulk, with a progress bar."""
    from demo.bulk import ChunkReport, load_bulk

    parallel = settings.database_url.startswith(("postgresql:", "postgres:"))
    started = time.perf_counter()
    with Progress(
        TextColumn("demo data"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events · {task.fields[rate]} events/s · {task.fields[projects]} projects"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("load", total=size, rate="-", projects="0")
        done = [0, 0]

        def advance(report: ChunkReport) -> None:
            done[0] += report.events
            done[1] += report.projects
            rate = done[0] / max(time.perf_counter() - started, 1e-6)
            progress.update(task, completed=done[0], rate=f"{rate:,.0f}", projects=f"{done[1]:,}")

        summary = load_bulk(
            ledger,
            size,
            env=settings.ledger_env() if parallel else None,
            workers=workers,
            progress=advance,
        )
    elapsed = time.perf_counter() - started
    err.print(
        f"Loaded {summary.projects:,} projects, {summary.conventions} conventions, "
        f"{summary.commitments:,} commitments: {summary.events:,} events in {elapsed:.1f} s "
        f"({summary.events / max(elapsed, 1e-6):,.0f} events/s)."
    )


def size_option(value: str | None) -> int | None:
    """Typer callback: read `--size` (1m, 100k, 2500)."""
    from demo.bulk import parse_size

    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
