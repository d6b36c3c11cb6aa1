"""What every `funding` command shares: settings with logging, the ledger, a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from api.audit_keys import AuditKeyError, KeyRing, load_keyring
from api.logging import configure_logging
from api.settings import Settings
from domain.application import Ledger

# Refusals are not wrapped at the terminal width: a script may look for their words.
err = Console(stderr=True, soft_wrap=True)


def cli_settings() -> Settings:
    """The settings from the environment, with logging configured by them."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


@contextmanager
def open_ledger(settings: Settings) -> Iterator[Ledger]:
    """The ledger on the configured store, closed afterwards."""
    settings.prepare_storage()
    ledger = Ledger(env=settings.ledger_env())
    try:
        yield ledger
    finally:
        ledger.close()


def fail(message: str) -> typer.Exit:
    """Print the message as an error and return the exit (code 2) to raise."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code=2)


def audit_keyring(settings: Settings) -> KeyRing:
    """The tree-head signing key and the public keys that verify heads, or a refusal."""
    try:
        return load_keyring(settings.audit_key_file, settings.audit_public_keys)
    except AuditKeyError as error:
        raise fail(str(error)) from None
