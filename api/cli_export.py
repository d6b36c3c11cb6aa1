"""`funding export` (ndjson, csv, iati, scdl) and `funding import-log` (an ndjson export
loaded into an empty store, then the read models rebuilt from it)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from api.audit_keys import AuditKeyError
from api.cli_common import audit_keyring, cli_settings, fail, open_ledger
from api.exports.log import ExportError, Snapshot, csv_chunks, ndjson_chunks
from api.exports.log_import import LogImportError, import_log
from api.settings import Settings
from domain.application import Ledger
from eventstore.restore import StoreNotEmptyError

err = Console(stderr=True)


class ExportFormat(StrEnum):
    """The formats `funding export` writes."""

    NDJSON = "ndjson"
    CSV = "csv"
    IATI = "iati"
    SCDL = "scdl"


@contextmanager
def _bar(label: str, *columns: ProgressColumn) -> Iterator[Callable[[int, int], None]]:
    with Progress(
        TextColumn(label), BarColumn(), *columns, TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


@contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    """Standard output, or a file that appears under its name only once complete."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def export_command(
    output_format: Annotated[
        ExportFormat, typer.Option("--format", help="ndjson, csv, iati or scdl.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(help="The file to write (standard output by default).", dir_okay=False),
    ] = None,
    sep: Annotated[
        str, typer.Option(help="CSV separator: ',' or ';' (French spreadsheets).")
    ] = ",",
) -> None:
    """Export the ledger, streamed: the log (ndjson, csv) or the projects (iati, scdl)."""
    if sep not in (",", ";"):
        raise fail(f"--sep must be ',' or ';', not {sep!r}")
    settings = cli_settings()
    started = time.perf_counter()
    with (
        open_ledger(settings) as ledger,
        _bar(f"export {output_format}", MofNCompleteColumn()) as advance,
    ):
        try:
            chunks = _chunks(ledger, settings, output_format, sep, advance)
            with _output(output) as file:
                for chunk in chunks:
                    file.write(chunk)
        except (ExportError, AuditKeyError) as error:
            raise fail(str(error)) from None
    where = "standard output" if output is None else str(output)
    err.print(
        f"{output_format} export written to {where} in {time.perf_counter() - started:.1f} s."
    )


def _chunks(
    ledger: Ledger,
    settings: Settings,
    output_format: ExportFormat,
    sep: str,
    advance: Callable[[int, int], None],
) -> Iterator[bytes]:
    if output_format in (ExportFormat.NDJSON, ExportFormat.CSV):
        snapshot = Snapshot.now(ledger)
        if output_format is ExportFormat.NDJSON:
            return ndjson_chunks(ledger, snapshot, audit_keyring(settings), advance)
        return csv_chunks(ledger, snapshot, sep, advance)
    from api.exports.iati import iati_chunks
    from api.exports.publisher import Publisher
    from api.exports.scdl import scdl_chunks

    publisher = Publisher.from_settings(settings)
    build = iati_chunks if output_format is ExportFormat.IATI else scdl_chunks
    return build(ledger, publisher=publisher, progress=advance)


def import_log_command(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="An ndjson export."),
    ],
    rebuild_read_models: Annotated[
        bool,
        typer.Option(
            "--rebuild/--no-rebuild",
            help="Rebuild the read models from the loaded log (or leave it to `funding rebuild`).",
        ),
    ] = True,
) -> None:
    """Load an ndjson export into an EMPTY store: the same positions, leaves and root hash,
    every line checked; then rebuild the read models. Exit 1 if the file is refused."""
    from projections.db import ReadModelDatabase
    from projections.rebuild import rebuild

    settings = cli_settings()
    size = file.stat().st_size
    with open_ledger(settings) as ledger:
        try:
            with _bar("import-log", DownloadColumn()) as advance, file.open("rb") as lines:

                def counted() -> Iterator[bytes]:
                    done = 0
                    for line in lines:
                        done += len(line)
                        yield line
                        advance(done, size)

                imported = import_log(ledger, counted(), audit_keyring(settings))
        except LogImportError as error:
            err.print(f"[red]refused:[/red] {escape(str(error))}. Nothing was loaded.")
            raise typer.Exit(code=1) from None
        except (StoreNotEmptyError, TypeError) as error:  # TypeError: not SQLite/PostgreSQL
            raise fail(str(error)) from None
        checked = (
            "signature checked"
            if imported.signature_checked
            else "signed by a key this installation does not know: signature not checked"
            if imported.signed
            else "unsigned head"
        )
        err.print(
            f"Loaded {imported.events} events up to position {imported.head_position}: tree "
            f"size {imported.tree_size}, root hash {imported.root_hash} ({checked})."
        )
        if not rebuild_read_models:
            return
        db = ReadModelDatabase.from_url(settings.database_url, settings.reporting_schema)
        try:
            with _bar("rebuild read models", MofNCompleteColumn()) as advance:
                position = rebuild(ledger, db, progress=advance)
        finally:
            db.close()
        err.print(f"Read models rebuilt to position {position}.")
