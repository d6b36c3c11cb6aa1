"""`funding audit …` (signing key, checkpoints, proofs) and `funding verify`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api import proofs
from api.audit_keys import (
    AuditKeyError,
    HeadRefusedError,
    KeyRing,
    SignedTreeHead,
    generate_key,
    key_id,
    public_pem,
    retire_key,
)
from api.cli_common import audit_keyring, cli_settings, fail, open_ledger

audit_app = typer.Typer(
    help="The verifiable log: signing key, signed checkpoints, inclusion and consistency "
    "proofs; the read models replayed and compared with the live ones."
)
err = Console(stderr=True, soft_wrap=True)


def _echo_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, indent=2))


@audit_app.command()
def keygen(
    if_missing: Annotated[
        bool,
        typer.Option("--if-missing", help="Keep an existing key (exit 0) instead of refusing."),
    ] = False,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="Retire the current key (its public key kept beside it, for "
            "FUNDING_AUDIT_PUBLIC_KEYS) and make a new one.",
        ),
    ] = False,
) -> None:
    """Create the Ed25519 key that signs tree heads, in FUNDING_AUDIT_KEY_FILE (mode 600).

    Prints the public key (PEM) on stdout: publish it to auditors. The private key is never
    printed, logged or stored in the database.
    """
    settings = cli_settings()
    path = settings.audit_key_file
    if path.exists() and not rotate:
        if if_missing:
            ring = audit_keyring(settings)
            err.print(f"Signing key {path} kept (key id {ring.current_id}).")
            return
        raise fail(f"a signing key exists at {path}: use --rotate to replace it")
    if rotate and path.exists():
        try:
            retired = retire_key(path)
        except AuditKeyError as error:
            raise fail(str(error)) from None
        err.print(
            f"Retired the old key; its public key is in {retired}: add it to "
            "FUNDING_AUDIT_PUBLIC_KEYS so the heads it signed still verify."
        )
    key = generate_key(path)
    err.print(f"Signing key written to {path} (mode 600), key id {key_id(key.public_key())}.")
    typer.echo(public_pem(key.public_key()), nl=False)


@audit_app.command("public-key")
def public_key(
    as_json: Annotated[
        bool, typer.Option("--json", help="The JSON answer of GET /v1/audit/public-key.")
    ] = False,
) -> None:
    """Print the public keys of tree heads (PEM; the signing key first, then retired ones)."""
    ring = audit_keyring(cli_settings())
    if not ring.public:
        raise fail(f"no signing key at {ring.key_file}: create one with `funding audit keygen`")
    answer = proofs.public_keys(ring)
    if as_json:
        _echo_json(answer.model_dump())
        return
    typer.echo("".join(k.public_key_pem for k in answer.keys), nl=False)


@audit_app.command()
def checkpoint(
    output: Annotated[
        Path | None, typer.Option(help="Write the signed head to this file (stdout if absent).")
    ] = None,
) -> None:
    """Sign the current tree head: {tree_size, root_hash, timestamp, signature, key_id}.

    Keep the file: `funding verify --checkpoint FILE` later proves the log still extends it.
    """
    settings = cli_settings()
    ring = audit_keyring(settings)
    with open_ledger(settings) as ledger:
        try:
            head = proofs.signed_head(ledger.recorder, ring)
        except AuditKeyError as error:
            raise fail(str(error)) from None
    text = json.dumps(head.as_dict(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    partial = output.with_name(f".{output.name}.partial")
    partial.write_text(text, encoding="ascii")
    os.replace(partial, output)
    err.print(f"Tree head of {head.tree_size} events signed and written to {output}.")


@audit_app.command()
def inclusion(
    position: Annotated[int, typer.Argument(min=1, help="The event's log position.")],
    tree_size: Annotated[
        int | None, typer.Option(min=1, help="The tree (a saved head's size); now if absent.")
    ] = None,
) -> None:
    """Print the inclusion proof of one event (as GET /v1/audit/proof/inclusion)."""
    settings = cli_settings()
    with open_ledger(settings) as ledger:
        try:
            proof = proofs.inclusion(ledger.recorder, position, tree_size)
        except proofs.ProofRequestError as error:
            raise fail(str(error)) from None
    _echo_json(proof.model_dump())


@audit_app.command()
def consistency(
    from_size: Annotated[int, typer.Option(min=0, help="The older tree head's size.")],
    to_size: Annotated[
        int | None, typer.Option(min=0, help="The newer tree head's size; now if absent.")
    ] = None,
) -> None:
    """Print the consistency proof between two tree sizes (as GET /v1/audit/proof/consistency)."""
    settings = cli_settings()
    with open_ledger(settings) as ledger:
        try:
            proof = proofs.consistency(ledger.recorder, from_size, to_size)
        except proofs.ProofRequestError as error:
            raise fail(str(error)) from None
    _echo_json(proof.model_dump())


def read_checkpoint(path: Path, ring: KeyRing) -> SignedTreeHead:
    """A saved signed head, its signature checked against the configured public keys."""
    try:
        head = SignedTreeHead.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise fail(f"cannot read the checkpoint {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise fail(f"the checkpoint {path} is not JSON") from None
    except HeadRefusedError as error:
        raise fail(f"the checkpoint {path} is not a signed tree head: {error}") from None
    try:
        ring.verify(head)
    except HeadRefusedError as error:
        raise fail(f"the checkpoint {path} is refused, nothing checked: {error}") from None
    return head


def verify_command(
    checkpoints: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            exists=True,
            dir_okay=False,
            help="A signed head saved by `funding audit checkpoint` (repeatable): the log "
            "must still extend it.",
        ),
    ] = None,
) -> None:
    """Recompute every leaf from the stored events and the tree; prove it extends checkpoints.

    Exit 0 when the log is intact, 1 naming the first bad position and what differs, 2 when
    a checkpoint is unreadable or its signature does not verify.
    """
    from eventstore.tree import log_tree
    from eventstore.verify import verify_log

    settings = cli_settings()
    heads: list[SignedTreeHead] = []
    if checkpoints:
        ring = audit_keyring(settings)
        heads = [read_checkpoint(path, ring) for path in checkpoints]
    with open_ledger(settings) as ledger:
        started = time.perf_counter()
        with Progress(
            TextColumn("verify"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            # The events the tree holds now: those recorded during the check come on top.
            total = log_tree(ledger.recorder).size()
            task = progress.add_task("verify", total=total, rate="-")

            def advance(done: int, _head_position: int) -> None:
                rate = f"{done / max(time.perf_counter() - started, 1e-6):,.0f}"
                progress.update(task, completed=done, total=max(total, done), rate=rate)

            report = verify_log(
                ledger.recorder, [(h.tree_size, h.root) for h in heads], progress=advance
            )
            advance(report.checked, report.head_position)
    if not report.ok:
        err.print(
            f"[red]the log is not intact[/red] at position {report.first_bad_position}: "
            f"{escape(report.problem or 'it differs from its tree')}"
        )
        raise typer.Exit(code=1)
    extends = f"; it extends {len(heads)} signed checkpoint(s)" if heads else ""
    err.print(
        f"The log is intact: {report.checked} events up to position {report.head_position}, "
        f"root {report.head_hash}{extends}."
    )
