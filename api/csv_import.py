"""CSV import of commitments: one per row, all checked first, then all recorded at once or none.

See docs/import.md for the columns. Each row is read into its commitment's command
(api/csv_rows.py); the ledger runs them all as one batch, checks every rule on every row and
saves the changed projects in one transaction only if no row was refused.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from api.csv_cells import Encoding
from api.csv_rows import RECORD, Refusal, Row, RowReader, read_table
from domain.application import Ledger
from domain.commands import (
    InDirectorate,
    ProjectCommand,
)
from domain.errors import PossibleDuplicateError
from domain.indexes import IdempotencyClaim
from domain.values import Actor


class RowStatus(StrEnum):
    """What became of a row."""

    OK = "ok"
    RECORDED = "recorded"
    REFUSED = "refused"
    # Repeats a recent write or an earlier row field for field: refused unless confirmed.
    DUPLICATE = "duplicate"


class RowReport(BaseModel):
    """One row of the file: its line, what became of it, and why when refused."""

    line: int
    status: RowStatus
    project_id: UUID | None = None
    commitment_id: UUID | None = None
    reason: str | None = None


class ImportReport(BaseModel):
    """What an import did, row by row; `position` is the log position of the recorded rows."""

    dry_run: bool
    rows: list[RowReport]
    accepted: int
    already_recorded: int
    refused: int
    duplicates: int | None = Field(
        default=None,
        description="Rows that repeat a recent write or an earlier row field for field "
        "(absent when none): refused with the file unless sent with confirm_duplicate=true.",
    )
    position: int | None = None
    # How the file was read (absent from a replay of an import recorded before they were said).
    encoding: Encoding | None = Field(default=None, description="How the file's bytes were read.")
    separator: str | None = Field(
        default=None, description="The field separator read from the header line."
    )
    decimal_mark: str | None = Field(
        default=None, description="The decimal mark of the file's numbers, if any has decimals."
    )
    date_format: str | None = Field(default=None, description="DD/MM/YYYY or YYYY-MM-DD.")
    # Said by the Idempotent-Replayed header, not in the body: a replay repeats the body.
    replayed: bool = Field(default=False, exclude=True)

    def problem_body(self) -> dict[str, Any]:
        """The report as a problem's members, with one error per refused row."""
        body = self.model_dump(mode="json", exclude_none=True)
        body["errors"] = [
            {"loc": ["line", row.line], "msg": row.reason}
            for row in self.rows
            if row.status in (RowStatus.REFUSED, RowStatus.DUPLICATE)
        ]
        return body


def command(row: Row) -> ProjectCommand:
    """The ledger command of a row: record its commitment, in the directorate it names."""
    kind, date_field = RECORD[row.instrument]
    record = kind(
        project_id=row.project_id,
        commitment_id=row.commitment_id,
        amount=row.amount,
        **{date_field: row.on},
        **row.details,
    )
    if row.directorate is None:
        return record
    return InDirectorate(project_id=row.project_id, directorate=row.directorate, command=record)


def run_import(
    ledger: Ledger,
    actor: Actor,
    data: bytes,
    *,
    dry_run: bool,
    idempotency: IdempotencyClaim | None = None,
    progress: Callable[[int, int], None] | None = None,
    confirm_duplicate: bool = False,
) -> ImportReport:
    """Import a CSV file of commitments: every row recorded in one transaction, or none.

    A file-level problem (encoding, header, no rows) raises InvalidValueError; row problems
    are reported in the report, and then nothing is recorded.
    """
    table = read_table(data)
    reader = RowReader(ledger, table)
    read: list[Row | Refusal] = []
    for done, (line, record) in enumerate(table.records, start=1):
        read.append(reader.row(line, record))
        if progress is not None:
            progress(done, len(table.records))
    reader.styles.check()
    rows = [r for r in read if isinstance(r, Row)]
    unreadable = len(rows) < len(read)
    reading = {
        "encoding": str(table.encoding),
        "separator": table.delimiter,
        "decimal_mark": reader.styles.decimal_mark,
        "date_format": reader.styles.date_format,
    }
    said = {name: value for name, value in reading.items() if value is not None}
    outcome = ledger.execute_batch(
        actor,
        [command(row) for row in rows],
        # Rows that could not be read still have every other row checked, but nothing saved.
        dry_run=dry_run or unreadable,
        idempotency=None if dry_run else idempotency,
        notes=said,
        confirm_duplicate=confirm_duplicate,
    )
    # A replay says again what the first answer said.
    said = (outcome.notes or {}) if outcome.replayed else said
    index = {row.line: i for i, row in enumerate(rows)}
    reports: list[RowReport] = []
    for item in read:
        if isinstance(item, Refusal):
            reports.append(RowReport(line=item.line, status=RowStatus.REFUSED, reason=item.reason))
            continue
        i = index[item.line]
        refusal = outcome.refused.get(i)
        status = (
            RowStatus.DUPLICATE
            if isinstance(refusal, PossibleDuplicateError)
            else RowStatus.REFUSED
            if refusal is not None
            else RowStatus.RECORDED
            if i in outcome.unchanged
            else RowStatus.OK
        )
        reason = None
        if isinstance(refusal, PossibleDuplicateError):
            reason = duplicate_reason(refusal, rows)
        elif refusal is not None:
            reason = reader.reason(item, refusal)
        reports.append(
            RowReport(
                line=item.line,
                status=status,
                project_id=item.project_id,
                commitment_id=item.commitment_id,
                reason=reason,
            )
        )
    return ImportReport(
        dry_run=dry_run,
        rows=reports,
        accepted=sum(r.status is RowStatus.OK for r in reports),
        already_recorded=sum(r.status is RowStatus.RECORDED for r in reports),
        refused=sum(r.status is RowStatus.REFUSED for r in reports),
        duplicates=sum(r.status is RowStatus.DUPLICATE for r in reports) or None,
        position=outcome.position,
        replayed=outcome.replayed,
        encoding=Encoding(said["encoding"]) if "encoding" in said else None,
        separator=said.get("separator"),
        decimal_mark=said.get("decimal_mark"),
        date_format=said.get("date_format"),
    )


def duplicate_reason(refusal: PossibleDuplicateError, rows: list[Row]) -> str:
    """Why a row is a possible duplicate, naming the earlier row by its line when in the file."""
    if refusal.earlier.get("position") is not None:
        return refusal.detail
    commitment_id = str(refusal.earlier["commitment_id"])
    line = next((r.line for r in rows if str(r.commitment_id) == commitment_id), None)
    return (
        f"repeats line {line} field for field (same project, instrument, amount, date and "
        "details): if both are meant, import the file with confirm_duplicate=true"
    )
