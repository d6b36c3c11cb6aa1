"""The `funding` command line: serve, demo, tokens, import, history, territories."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from api import cli_replay, cli_report
from api.cli_audit import audit_app, verify_command
from api.cli_common import cli_settings, fail, open_ledger
from api.cli_deploy import demo, migrate
from api.cli_export import export_command, import_log_command
from api.settings import Settings
from api.tokens import create_token, list_tokens, revoke_token
from domain.application import Ledger
from domain.errors import CorruptEventError, DomainError
from domain.reference.territories import TerritoryLevel, load_territories
from domain.tokens import Role
from domain.values import Actor
from projections.rebuild import REBUILD_PAGE_SIZE

if TYPE_CHECKING:
    from projections.db import ReadModelDatabase
    from projections.leadership import RebuildLeases
    from projections.projector import Projector

app = typer.Typer(help="funding-tracker: the ledger of money committed to territorial projects.")
tokens_app = typer.Typer(help="Create, list and revoke API tokens.")
territories_app = typer.Typer(help="Look up the territory reference (COG 2026).")
app.add_typer(tokens_app, name="tokens")
app.add_typer(territories_app, name="territories")
app.add_typer(audit_app, name="audit")
app.command("report")(cli_report.report)
audit_app.command("replay")(cli_replay.replay)
app.command("verify")(verify_command)
app.command("export")(export_command)
app.command("import-log")(import_log_command)

err = Console(stderr=True)
log = structlog.get_logger("cli")


def _projector(settings: Settings, ledger: Ledger, page_size: int = 2000) -> Projector:
    """The projector: on PostgreSQL it campaigns to lead each read model (several processes
    may run); SQLite keeps one projector process (ProjectorAlreadyRunningError)."""
    from projections.db import ReadModelDatabase
    from projections.leaders import SingleProjectorLock
    from projections.leadership import Leadership
    from projections.projector import Projector
    from projections.sql import Dialect

    db = ReadModelDatabase.from_url(settings.database_url, settings.reporting_schema)
    if db.sqlite_file is not None:
        try:
            SingleProjectorLock(db.sqlite_file).acquire()
        except BaseException:
            db.close()
            raise
    leadership = Leadership(db) if db.dialect is Dialect.POSTGRES else None
    return Projector(
        ledger,
        db,
        page_size=page_size,
        poll_interval=settings.poll_interval,
        leadership=leadership,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    no_projector: Annotated[
        bool, typer.Option("--no-projector", help="Leave the read models to `funding projector`.")
    ] = False,
) -> None:
    """Serve the HTTP API (with the projector in this process unless --no-projector)."""
    import uvicorn

    from api.logging import uvicorn_log_config

    settings = cli_settings()
    settings.prepare_storage()
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker counts in files here; /metrics adds them up, whichever worker answers.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="funding-metrics-")
    projector = None
    if not no_projector:
        from projections.leaders import ProjectorAlreadyRunningError

        # One projector for all workers: it runs in this (the supervising) process.
        projector_ledger = Ledger(env=settings.ledger_env())
        try:
            projector = _projector(settings, projector_ledger)
        except ProjectorAlreadyRunningError as error:
            projector_ledger.close()
            err.print(f"[yellow]warning:[/yellow] {escape(str(error))} Serving without one.")
        else:
            projector.start()
    uvicorn.run(
        "api.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=uvicorn_log_config(),
        access_log=False,
    )
    if projector is not None:
        projector.stop()


@app.command()
def projector(
    page_size: Annotated[int, typer.Option(min=1, help="Events per transaction.")] = 2000,
) -> None:
    """Keep the read models caught up with the log until interrupted (SIGINT or SIGTERM)."""
    import signal

    from projections.leaders import ProjectorAlreadyRunningError

    settings = cli_settings()
    with open_ledger(settings) as ledger:
        try:
            worker = _projector(settings, ledger, page_size)
        except ProjectorAlreadyRunningError as error:
            raise fail(escape(str(error))) from None
        signal.signal(signal.SIGTERM, lambda *_: worker.stop(timeout=0))
        try:
            worker.run()
        except KeyboardInterrupt:
            worker.stop(timeout=0)


@app.command()
def rebuild(
    name: Annotated[
        str | None, typer.Argument(help="The read model (totals, projects); all by default.")
    ] = None,
    page_size: Annotated[
        int, typer.Option(min=100, help="Events per transaction.")
    ] = REBUILD_PAGE_SIZE,
) -> None:
    """Rebuild read models beside the live ones from position 0, then swap them in.

    Without NAME every read model is rebuilt in one pass over the log.
    """
    from projections.db import ReadModelDatabase
    from projections.leadership import NotLeaderError
    from projections.rebuild import rebuild as rebuild_read_models
    from projections.registry import READ_MODELS
    from projections.state import UnappliableEventError

    settings = cli_settings()
    if name is not None and name not in READ_MODELS:
        raise fail(f"unknown read model {name!r}: choose among {', '.join(READ_MODELS)}")
    label = name or ", ".join(READ_MODELS)
    with open_ledger(settings) as ledger:
        db = ReadModelDatabase.from_url(settings.database_url, settings.reporting_schema)
        leases = _rebuild_leases(db, (name,) if name else READ_MODELS)
        started = time.perf_counter()
        try:
            with Progress(
                TextColumn(f"rebuild {label}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} events/s"),
                TimeElapsedColumn(),
                console=err,
            ) as progress:
                task = progress.add_task(label, total=None, rate="-")

                def advance(done: int, head: int) -> None:
                    elapsed = max(time.perf_counter() - started, 1e-6)
                    rate = f"{done / elapsed:,.0f}"
                    progress.update(task, completed=done, total=head, rate=rate)

                position = rebuild_read_models(
                    ledger,
                    db,
                    name,
                    page_size=page_size,
                    progress=advance,
                    guard=None if leases is None else leases.guard,
                )
        except CorruptEventError as error:
            # Only the generations being built stopped short: the live ones are untouched.
            log.error(
                "rebuild_stopped",
                position=error.position,
                aggregate_id=error.originator_id,
                version=error.version,
                reason=error.reason,
            )
            raise fail(
                f"{escape(str(error))}. Rebuild stopped: the live read models are unchanged; "
                "repair that event, then run `funding rebuild` again to resume."
            ) from None
        except NotLeaderError as error:
            raise fail(f"{escape(str(error))}. Run `funding rebuild` again to resume.") from None
        except UnappliableEventError as error:
            # Never swapped in: a read model that disagrees with the log is worse than none.
            log.error(
                "rebuild_stopped",
                read_model=error.read_model,
                position=error.position,
                reason=error.reason,
            )
            err.print(
                f"[red]error:[/red] {escape(str(error))}. Rebuild stopped: the live read "
                "models are unchanged (the generation being built is not swapped in); the "
                "live projector stops at that event too."
            )
            raise typer.Exit(code=1) from None
        finally:
            if leases is not None:
                leases.close()
            db.close()
        elapsed = time.perf_counter() - started
        err.print(
            f"{label}: rebuilt to position {position} in {elapsed:.1f} s "
            f"({position / max(elapsed, 1e-6):,.0f} events/s) and swapped in."
        )


def _rebuild_leases(db: ReadModelDatabase, names: tuple[str, ...]) -> RebuildLeases | None:
    """PostgreSQL: the rebuild locks of these read models (one rebuild of each at a time)."""
    from projections.leadership import RebuildLeases
    from projections.sql import Dialect

    if db.dialect is not Dialect.POSTGRES:
        return None
    leases = RebuildLeases(db, names)
    busy = leases.acquire()
    if busy:
        db.close()
        raise fail(
            f"another `funding rebuild` of {', '.join(busy)} is running against this database: "
            "wait for it to finish (one rebuild of a read model at a time)."
        )
    return leases


@app.command("import")
def import_commitments(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file."),
    ],
    dry_run: Annotated[bool, typer.Option(help="Check every row and record nothing.")] = False,
    actor: Annotated[str, typer.Option(help="Who imports, as the events record it.")] = "cli",
    confirm_duplicate: Annotated[
        bool,
        typer.Option(help="Record rows that repeat a recent commitment or an earlier row too."),
    ] = False,
) -> None:
    """Import commitments from a CSV file (docs/import.md): all rows or none; exit 1 if refused."""
    from api.csv_import import RowStatus, run_import

    settings = cli_settings()
    data = file.read_bytes()
    with (
        open_ledger(settings) as ledger,
        Progress(
            TextColumn("reading rows"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress,
    ):
        task = progress.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            report = run_import(
                ledger,
                Actor(name=actor),
                data,
                dry_run=dry_run,
                progress=advance,
                confirm_duplicate=confirm_duplicate,
            )
        except DomainError as e:
            raise fail(e.detail) from None
    typer.echo(report.model_dump_json(exclude_none=True, indent=2))
    refused = [r for r in report.rows if r.status in (RowStatus.REFUSED, RowStatus.DUPLICATE)]
    if refused:
        table = Table("line", "status", "reason", title="Refused rows")
        for row in refused:
            table.add_row(str(row.line), row.status, row.reason or "")
        err.print(table)
        duplicates = report.duplicates or 0
        err.print(
            f"{report.refused + duplicates} of {len(report.rows)} rows refused"
            + (
                f" ({duplicates} possible duplicates: --confirm-duplicate records them)"
                if duplicates
                else ""
            )
            + ": nothing recorded."
        )
        raise typer.Exit(code=1)
    err.print(
        f"Read as {report.encoding}, fields separated by {report.separator!r}: "
        f"{report.accepted} rows {'checked' if dry_run else 'recorded'}, "
        f"{report.already_recorded} already recorded"
        + ("." if report.position is None else f"; log position {report.position}.")
    )


@app.command()
def history(project_id: Annotated[UUID, typer.Argument(help="The project's id.")]) -> None:
    """Print a project's events in order, one JSON object per line."""
    settings = cli_settings()
    with open_ledger(settings) as ledger:
        try:
            events = ledger.project_events(project_id)
        except DomainError as error:
            raise fail(error.detail) from None
        for e in events:
            typer.echo(
                json.dumps(
                    {
                        "version": e.version,
                        "position": e.position,
                        "recorded_at": e.recorded_at.isoformat(),
                        "type": e.type,
                        **{k: v for k, v in e.meta.items() if v},
                        "data": e.data,
                    },
                    default=str,
                    ensure_ascii=False,
                )
            )


@tokens_app.command("create")
def tokens_create(
    role: Annotated[Role, typer.Option(help="admin, directorate, auditor or viewer.")],
    name: Annotated[str, typer.Option(help="Who or what holds the token.")],
    directorate: Annotated[
        str | None, typer.Option(help="The directorate of a directorate token.")
    ] = None,
) -> None:
    """Create a token; it is printed once, alone on the last line."""
    settings = cli_settings()
    with open_ledger(settings) as ledger:
        try:
            secret, info = create_token(ledger, name=name, role=role, directorate=directorate)
        except DomainError as e:
            raise fail(e.detail) from None
    err.print(f"Token {info.id} for {info.name} ({info.role}). It is shown only once:")
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list() -> None:
    """List tokens (never the tokens themselves)."""
    settings = cli_settings()
    with open_ledger(settings) as ledger:
        table = Table("id", "name", "role", "directorate", "state")
        for t in list_tokens(ledger):
            table.add_row(
                str(t.id), t.name, t.role, t.directorate or "", "revoked" if t.revoked else "active"
            )
        Console().print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    name_or_id: Annotated[str, typer.Argument(help="The token's name or id.")],
) -> None:
    """Revoke a token: it stops working at once."""
    settings = cli_settings()
    with open_ledger(settings) as ledger:
        try:
            revoked = revoke_token(ledger, name_or_id)
        except DomainError as e:
            raise fail(e.detail) from None
    for t in revoked:
        err.print(f"Revoked {t.id} ({t.name}).")


@territories_app.command("show")
def territories_show(code: Annotated[str, typer.Argument(help="e.g. commune:59650")]) -> None:
    """Print one territory as JSON: code, name, level, parents, population, band."""
    try:
        territory = load_territories().get(code)
    except DomainError as e:
        raise fail(e.detail) from None
    typer.echo(json.dumps(territory.as_dict(), ensure_ascii=False))


@territories_app.command("search")
def territories_search(
    query: Annotated[str, typer.Argument(help="Part of a name or a code.")],
    level: Annotated[TerritoryLevel | None, typer.Option(help="Only this level.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """Find territories by name or code, one JSON object per line."""
    for territory in load_territories().search(query, level, limit):
        record: dict[str, Any] = territory.as_dict()
        typer.echo(json.dumps(record, ensure_ascii=False))


app.command()(migrate)
app.command()(demo)


def main() -> None:
    """Entry point of the `funding` console script."""
    app()


if __name__ == "__main__":
    main()
