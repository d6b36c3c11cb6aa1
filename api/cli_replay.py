"""`funding audit replay`: every read model rebuilt from the log and compared with the live one."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.logging import configure_logging
from api.settings import Settings
from domain.application import Ledger
from domain.errors import CorruptEventError
from projections.db import ReadModelDatabase
from projections.rebuild import REBUILD_PAGE_SIZE
from projections.replay_check import MAX_DIFFERENCES, ReplayCheckError, replay_check
from projections.state import UnappliableEventError

err = Console(stderr=True)


def replay(
    page_size: Annotated[
        int, typer.Option(min=100, help="Events per transaction of the replay.")
    ] = REBUILD_PAGE_SIZE,
    max_differences: Annotated[
        int, typer.Option(min=1, help="Differences listed per table at most.")
    ] = MAX_DIFFERENCES,
) -> None:
    """Rebuild every read model from the log into scratch tables and compare them with the
    live ones, row by row: print each difference (table, key, column, live value, replayed
    value); exit 1 if there is any, 0 if none.

    The live read models are only read; the scratch tables are dropped afterwards.
    """
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    settings.prepare_storage()
    ledger = Ledger(env=settings.ledger_env())
    db = ReadModelDatabase.from_url(settings.database_url, settings.reporting_schema)
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("replaying the log"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("replay", total=None, rate="-")

            def advance(position: int, head: int) -> None:
                rate = f"{position / max(time.perf_counter() - started, 1e-6):,.0f}"
                progress.update(task, completed=position, total=head, rate=rate)

            outcome = replay_check(
                ledger,
                db,
                settings.database_url,
                page_size=page_size,
                progress=advance,
                max_differences=max_differences,
            )
    except (ReplayCheckError, CorruptEventError, UnappliableEventError) as error:
        err.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(code=2) from None
    finally:
        db.close()
        ledger.close()
    for difference in outcome.differences:
        typer.echo(str(difference))
    at = ", ".join(f"{name} at position {p}" for name, p in outcome.positions.items())
    elapsed = time.perf_counter() - started
    if outcome.ok:
        err.print(f"{outcome.tables} tables equal to the log replayed ({at}) in {elapsed:.1f} s.")
        return
    more = (
        f" (more in {', '.join(outcome.truncated)}: --max-differences to list them)"
        if outcome.truncated
        else ""
    )
    count = len(outcome.differences)
    err.print(
        f"[red]{count} difference{'' if count == 1 else 's'}[/red] between the live read "
        f"models and the log replayed ({at}){more}."
    )
    raise typer.Exit(code=1)
