"""The rows of a CSV import: the file split into rows, each read into its commitment's command.

The columns are those of the commitment commands (domain/commands.py): the project, the
instrument, the commitment id, amount and date, then each instrument's own fields under their
command's names. See docs/import.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints
from uuid import NAMESPACE_URL, UUID, uuid5

from api.csv_cells import (
    CellError,
    Encoding,
    Styles,
    decode,
    read_date,
    read_number,
    separator,
    shown,
    without_empty_columns,
)
from domain.application import Ledger
from domain.commands import GrantLoan, InvestEquity, LaunchStudy, NewCommitment
from domain.errors import DomainError, InvalidValueError
from domain.reference import Instrument
from domain.reference import directorate as find_directorate
from domain.values import money, quantity

# The command of each instrument, and the name of its date field.
RECORD: dict[Instrument, tuple[type[NewCommitment], str]] = {
    Instrument.LOAN: (GrantLoan, "granted_on"),
    Instrument.EQUITY: (InvestEquity, "invested_on"),
    Instrument.STUDY: (LaunchStudy, "launched_on"),
}


# Fields every commitment command has: the file gives them in its common columns.
COMMON_FIELDS = ("project_id", "commitment_id", "amount")


@dataclass(frozen=True, slots=True)
class Detail:
    """What an instrument's own cell holds: int, Decimal (a number) or str; maybe empty."""

    kind: type
    optional: bool


def _detail(hint: Any) -> Detail:
    if get_origin(hint) in (Union, types.UnionType):
        inner = next(a for a in get_args(hint) if a is not type(None))
        return Detail(_detail(inner).kind, optional=True)
    if get_origin(hint) is Annotated:
        return Detail(Decimal, optional=False)
    return Detail(int if hint is int else str, optional=False)


def _details(kind: type[NewCommitment], date_field: str) -> dict[str, Detail]:
    hints = get_type_hints(kind, include_extras=True)
    return {
        f.name: _detail(hints[f.name])
        for f in fields(kind)
        if f.name not in (*COMMON_FIELDS, date_field)
    }


# Each instrument's own columns, with what their cells hold.
DETAILS: dict[Instrument, dict[str, Detail]] = {
    instrument: _details(kind, date_field) for instrument, (kind, date_field) in RECORD.items()
}
# Columns that belong to one instrument: filled in on another instrument's row, they are a mistake.
INSTRUMENT_COLUMNS: dict[str, Instrument] = {
    name: instrument for instrument, details in DETAILS.items() for name in details
}
COLUMNS = (
    "project_reference",
    "project_id",
    "directorate",
    "instrument",
    "commitment_id",
    "amount",
    "date",
    *INSTRUMENT_COLUMNS,
)
REQUIRED = ("instrument", "amount", "date")
# Columns of free text: stored as written, and shown again in spreadsheets.
TEXT_COLUMNS = (
    "project_reference",
    *(name for details in DETAILS.values() for name, d in details.items() if d.kind is str),
)
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Whole numbers in ASCII digits only: isdigit() and int() also take "١٢" or "²".
WHOLE = re.compile(r"[0-9]{1,4}")
# The ledger's fields that a column gives under another name.
FIELD_COLUMNS = {"granted_on": "date", "invested_on": "date", "launched_on": "date"}


def looks_like_formula(value: str) -> bool:
    """Whether a spreadsheet would read this text cell as a formula."""
    return value.startswith(FORMULA_START)


@dataclass(frozen=True, slots=True)
class Row:
    """A row read from the file, ready to run as a command on its project."""

    line: int
    project_id: UUID
    commitment_id: UUID
    instrument: Instrument
    amount: Decimal
    on: date
    directorate: str | None
    details: dict[str, Any]
    # The cells as typed, by column: errors the ledger finds quote them.
    typed: dict[str, str] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A row that could not be read."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Table:
    """The file's records under its header, with their line numbers, and how it was read."""

    header: list[str]
    records: list[tuple[int, list[str]]]
    delimiter: str
    digest: str
    encoding: Encoding = Encoding.UTF8

    def column(self, name: str, typed: dict[str, str]) -> str:
        """A cell named in an error: its column's number and name, and the cell as typed."""
        if name not in self.header:
            return f"{name} (the file has no such column)"
        return f"column {self.header.index(name) + 1} ({name}) {shown(typed.get(name, ''))}"


def read_table(data: bytes) -> Table:
    """Decode and split a CSV file: UTF-8 (a BOM is allowed) or Windows-1252, `,` or `;`."""
    text, encoding = decode(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    header_line = text.lstrip("\n").split("\n", 1)[0]
    if not header_line.strip():
        raise InvalidValueError("file", "is empty: its first line must name the columns")
    delimiter = separator(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
        records = [(reader.line_num, record) for record in reader if any(c.strip() for c in record)]
    except csv.Error as error:
        raise InvalidValueError("file", f"line {reader.line_num}: {error}") from None
    header, records = without_empty_columns(header, records)
    _check_header(header)
    if not records:
        raise InvalidValueError("file", "holds no rows under its header")
    # The file's identity ignores its encoding, a BOM and line endings: a re-saved file stays
    # the same file.
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Table(header, records, delimiter, digest, encoding)


def _check_header(header: list[str]) -> None:
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise InvalidValueError(
            "file",
            f"unknown columns {', '.join(name or '(unnamed)' for name in unknown)}; "
            f"the columns are {', '.join(COLUMNS)}",
        )
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise InvalidValueError("file", f"columns named twice: {', '.join(twice)}")
    missing = [name for name in REQUIRED if name not in header]
    if "project_reference" not in header and "project_id" not in header:
        missing.insert(0, "project_reference or project_id")
    if missing:
        raise InvalidValueError("file", f"missing columns: {', '.join(missing)}")


def commitment_id_for(digest: str, line: int) -> UUID:
    """Return the id given to a row's commitment when the file names none."""
    return uuid5(NAMESPACE_URL, f"funding-tracker:import:{digest}:{line}")


class RowReader:
    """Reads the rows of one file, resolving project references once each.

    Every problem with a cell names its column (number and name) and quotes the cell as typed;
    `styles` keeps the decimal marks and date formats the file uses.
    """

    def __init__(self, ledger: Ledger, table: Table) -> None:
        self.ledger = ledger
        self.table = table
        self.references: dict[tuple[str, str], UUID | None] = {}
        self.styles = Styles()

    def row(self, line: int, record: list[str]) -> Row | Refusal:
        header = self.table.header
        if len(record) != len(header):
            return Refusal(
                line,
                f"has {len(record)} fields where the header names {len(header)} "
                f"(fields are separated by {self.table.delimiter!r})",
            )
        typed = dict(zip(header, record, strict=True))
        cells = {name: value.strip() for name, value in typed.items()}
        problems: list[str] = []

        def cell(name: str) -> str | None:
            return cells.get(name) or None

        def where(name: str) -> str:
            return self.table.column(name, typed)

        project_id = self._project(cell, where, problems)
        instrument = self._instrument(cell("instrument"), where, problems)
        commitment_id = self._commitment_id(cell("commitment_id"), line, where, problems)
        on = self._date(cell("date"), line, where, problems)
        amount = self._amount(cell("amount"), line, where, problems)
        problems.extend(
            f"{where(name)} would be read as a formula by a spreadsheet: "
            "it must not begin with =, +, - or @"
            for name in TEXT_COLUMNS
            if (value := cells.get(name)) and looks_like_formula(value)
        )
        details = self._details(cell, instrument, line, where, problems)
        if (
            problems
            or project_id is None
            or instrument is None
            or commitment_id is None
            or on is None
            or amount is None
        ):
            return Refusal(line, "; ".join(problems))
        return Row(
            line=line,
            project_id=project_id,
            commitment_id=commitment_id,
            instrument=instrument,
            amount=amount,
            on=on,
            directorate=cell("directorate"),
            details=details,
            typed=typed,
        )

    def reason(self, row: Row, error: DomainError) -> str:
        """The ledger's refusal of a row, quoting the cell it is about as typed."""
        name = error.field if isinstance(error, InvalidValueError) else error.detail.split(" ")[0]
        column = FIELD_COLUMNS.get(name, name)
        if column not in self.table.header:
            return error.detail
        return f"{self.table.column(column, row.typed)}: {_without_field(error)}"

    def _project(
        self, cell: Callable[[str], str | None], where: Callable[[str], str], problems: list[str]
    ) -> UUID | None:
        reference, given_id, directorate = (
            cell("project_reference"),
            cell("project_id"),
            cell("directorate"),
        )
        if given_id is not None and reference is None:
            return _uuid(given_id, where("project_id"), problems)
        if reference is None or given_id is not None:
            problems.append("give either project_reference or project_id")
            return None
        if directorate is None:
            problems.append(
                f"{where('project_reference')}: a project_reference needs its directorate"
            )
            return None
        try:
            find_directorate(directorate)
        except DomainError as error:
            problems.append(f"{where('directorate')}: {error.detail}")
            return None
        key = (directorate, reference)
        if key not in self.references:
            self.references[key] = self.ledger.project_id_for_reference(directorate, reference)
        found = self.references[key]
        if found is None:
            problems.append(
                f"{where('project_reference')}: no project has this reference "
                f"in directorate {directorate!r}"
            )
        return found

    @staticmethod
    def _instrument(
        value: str | None, where: Callable[[str], str], problems: list[str]
    ) -> Instrument | None:
        try:
            return Instrument((value or "").lower())
        except ValueError:
            problems.append(f"{where('instrument')}: instrument must be loan, equity or study")
            return None

    def _commitment_id(
        self, value: str | None, line: int, where: Callable[[str], str], problems: list[str]
    ) -> UUID | None:
        if value is None:
            return commitment_id_for(self.table.digest, line)
        return _uuid(value, where("commitment_id"), problems)

    def _date(
        self, value: str | None, line: int, where: Callable[[str], str], problems: list[str]
    ) -> date | None:
        if value is None:
            problems.append(f"{where('date')}: date is required")
            return None
        try:
            on, style = read_date(value)
        except CellError as error:
            problems.append(f"{where('date')}: {error}")
            return None
        self.styles.date(style, f"line {line}, {where('date')}")
        return on

    def _amount(
        self, value: str | None, line: int, where: Callable[[str], str], problems: list[str]
    ) -> Decimal | None:
        if value is None:
            problems.append(f"{where('amount')}: amount is required")
            return None
        return self._number(value, "amount", line, where, problems)

    def _number(
        self,
        value: str,
        name: str,
        line: int,
        where: Callable[[str], str],
        problems: list[str],
    ) -> Decimal | None:
        # Amounts are read with their thousands separators; percentages (at most 100) have none.
        amount = name == "amount"
        try:
            number = read_number(value, thousands=amount)
            read = money(number.text, name) if amount else quantity(number.text, name)
        except CellError as error:
            problems.append(f"{where(name)}: {error}")
            return None
        except InvalidValueError as error:
            problems.append(f"{where(name)}: {_without_field(error)}")
            return None
        self.styles.number(number, f"line {line}, {where(name)}")
        return read

    def _details(
        self,
        cell: Callable[[str], str | None],
        instrument: Instrument | None,
        line: int,
        where: Callable[[str], str],
        problems: list[str],
    ) -> dict[str, Any]:
        if instrument is None:
            return {}
        for name, owner in INSTRUMENT_COLUMNS.items():
            if owner is not instrument and cell(name) is not None:
                problems.append(f"{where(name)}: {name} applies to {owner} rows only")
        details: dict[str, Any] = {}
        for name, detail in DETAILS[instrument].items():
            value = cell(name)
            if detail.kind is int:
                whole = value is not None and WHOLE.fullmatch(value) is not None
                if value is None:
                    problems.append(f"{where(name)}: {name} is required, a whole number")
                elif not whole:
                    problems.append(f"{where(name)}: {name} must be a whole number")
                details[name] = int(value) if value and whole else 0
            elif detail.kind is Decimal:
                details[name] = (
                    None if value is None else self._number(value, name, line, where, problems)
                )
            else:
                details[name] = value or (None if detail.optional else "")
        return details


def _without_field(error: DomainError) -> str:
    """A refusal's reason without the field it names (the column is named beside it)."""
    if isinstance(error, InvalidValueError):
        return error.detail.removeprefix(f"{error.field}: ")
    return error.detail


def _uuid(value: str, where: str, problems: list[str]) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        problems.append(f"{where}: is not a UUID")
        return None
