"""`funding report`: the portfolio's totals as at a past time, from the log replayed."""

from __future__ import annotations

import time
from datetime import date
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.answers.asat import AsAtTotalsOut
from api.cli_common import fail
from api.logging import configure_logging
from api.routes.reads import totals_csv
from api.settings import Settings
from domain.application import Ledger
from domain.errors import CorruptEventError, InvalidValueError
from projections.asat import Question, parse_as_at, totals_as_at

err = Console(stderr=True)


class Output(StrEnum):
    """How the report is printed."""

    JSON = "json"
    CSV = "csv"


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidValueError(option, f"{value!r} is not a date like 2024-12-31") from None


def _filters(pairs: list[str]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise InvalidValueError("filter", f"{pair!r} is not DIMENSION=VALUE")
        filters[name.strip()] = value
    return filters


def report(
    as_at: Annotated[
        str,
        typer.Option(
            "--as-at",
            help="A date (2024-12-31: the end of that day in Europe/Paris) or an ISO 8601 "
            "timestamp with its offset (2025-01-15T12:00:00+01:00, …Z).",
        ),
    ],
    group_by: Annotated[
        str, typer.Option("--group-by", help="Comma-separated dimensions, e.g. region,theme.")
    ] = "",
    output: Annotated[Output, typer.Option("--format", help="json or csv.")] = Output.JSON,
    date_from: Annotated[
        str | None, typer.Option("--from", help="Effective dates from (inclusive).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Effective dates to (inclusive).")
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="DIMENSION=VALUE, as /v1/totals filters (territory=region:32, theme=mobility, "
            "year=2024…); repeat for several.",
        ),
    ] = None,
    sep: Annotated[str, typer.Option(help="CSV separator: , or ; (decimal commas).")] = ",",
) -> None:
    """Print the totals of the events recorded up to an instant, as GET /v1/audit/totals does.

    The log is replayed up to the first event recorded after the instant, into scratch
    tables dropped afterwards; the live read models are not touched.
    """
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if sep not in (",", ";"):
        raise fail("--sep must be , or ;")
    dims = [d.strip() for d in group_by.split(",") if d.strip()]
    try:
        at = parse_as_at(as_at)
        question = Question.of(
            dims,
            _filters(filters or []),
            _day("from", date_from),
            _day("to", date_to),
            settings.totals_max_rows,
        )
    except InvalidValueError as error:
        raise fail(error.detail) from None
    settings.prepare_storage()
    ledger = Ledger(env=settings.ledger_env())
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn(f"replaying the log as at {at.isoformat()}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("replay", total=ledger.head_position() or None, rate="-")

            def advance(events: int, position: int) -> None:
                rate = f"{events / max(time.perf_counter() - started, 1e-6):,.0f}"
                progress.update(task, completed=position, rate=rate)

            answer = totals_as_at(ledger, settings.database_url, at, question, progress=advance)
    except InvalidValueError as error:
        raise fail(error.detail) from None
    except CorruptEventError as error:
        raise fail(f"{escape(str(error))}: the log cannot be replayed past it") from None
    finally:
        ledger.close()
    cut = answer.cut
    if output is Output.CSV:
        typer.echo(totals_csv(dims, answer.totals, sep), nl=False)
    else:
        typer.echo(AsAtTotalsOut.of(answer).model_dump_json(indent=2))
    err.print(
        f"as at {cut.at.isoformat()} ({cut.at_paris.isoformat()} in Paris): {cut.tree_size} "
        f"events, to log position {cut.position}"
        + ("" if cut.final else "; later writes stamped before that instant may still arrive")
    )
