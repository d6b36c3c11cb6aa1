"""A CSV file as a spreadsheet saves it: its encoding, its separator, and numbers and dates
written the French way or the international way, each read back to the value it means.

French Excel saves "CSV (séparateur: point-virgule)" in Windows-1252 with `;` between fields,
amounts such as `45 000,50` (a space, a no-break space or a narrow no-break space between
thousands, a decimal comma) and dates `31/12/2024`; "CSV UTF-8" adds a byte order mark. The
rules are in docs/import.md; every refusal quotes the cell as typed (see `shown`).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from domain.errors import InvalidValueError


class Encoding(StrEnum):
    """How the file's bytes were read (Python codec names)."""

    UTF8 = "utf-8"
    UTF8_BOM = "utf-8-sig"
    WINDOWS_1252 = "windows-1252"


# A UTF-8 accented letter or typographic sign (é, è, à, œ, ’, €…): in a file that is not UTF-8,
# it means the file was put together from two encodings.
UTF8_LETTER = re.compile(rb"[\xc3\xc5][\x80-\xbf]|\xe2[\x80-\x82][\x80-\xbf]")
# The spaces French software puts between thousands: space, no-break space, narrow no-break space.
SPACES = " \u00a0\u202f"
SIGN = r"([+-]?)"
PLAIN = re.compile(SIGN + r"([0-9]+)(?:([.,])([0-9]+))?")
SPACED = re.compile(SIGN + rf"([0-9]{{1,3}}(?:[{SPACES}][0-9]{{3}})+)(?:([.,])([0-9]+))?")
DOTTED = re.compile(SIGN + r"([0-9]{1,3}(?:\.[0-9]{3})+)(?:(,)([0-9]+))?")
COMMAED = re.compile(SIGN + r"([0-9]{1,3}(?:,[0-9]{3})+)(?:(\.)([0-9]+))?")
# `45.000` or `45,000`: a dot or comma between thousands, or a decimal mark before 3 decimals.
AMBIGUOUS_WHOLE = re.compile(r"[1-9][0-9]{0,2}")
ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
FRENCH_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
ISO_FORMAT = "YYYY-MM-DD"
FRENCH_FORMAT = "DD/MM/YYYY"
SHOWN_CHARACTERS = 40


class CellError(ValueError):
    """A cell that cannot be read; the message says why, without quoting the cell."""


def shown(value: str) -> str:
    """The cell as typed, between quotes, cut short; invisible characters other than spaces
    (controls, format characters such as U+200B or U+202E, line separators) as `\\uXXXX`."""
    cut = value if len(value) <= SHOWN_CHARACTERS else value[:SHOWN_CHARACTERS] + "…"
    return "'" + "".join(_visible(char) for char in cut) + "'"


def _visible(char: str) -> str:
    if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        return f"\\u{ord(char):04x}"
    return char


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes) -> tuple[str, Encoding]:
    """The file's text and how it was read: UTF-8 if it is valid UTF-8, else Windows-1252.

    Latin-1 (ISO-8859-1) text reads the same as Windows-1252 (which only adds letters where
    Latin-1 has invisible control codes). A file mixing UTF-8 letters with Windows-1252
    bytes, or holding bytes Windows-1252 leaves undefined, is refused, saying where.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvalidValueError(
            "file",
            "is UTF-16 text (Excel's 'Unicode text'): save it as 'CSV UTF-8' or as "
            "'CSV (séparateur: point-virgule)'",
        )
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8-sig"), Encoding.UTF8_BOM if bom else Encoding.UTF8
    except UnicodeDecodeError as error:
        bad = error.start
    where = f"line {_line_of(data, bad)}: byte 0x{data[bad]:02X}"
    if bom:
        raise InvalidValueError(
            "file", f"begins with a UTF-8 byte order mark but is not UTF-8 text ({where})"
        )
    mixed = UTF8_LETTER.search(data)
    if mixed is not None:
        letter = mixed.group().decode("utf-8")
        raise InvalidValueError(
            "file",
            f"mixes two encodings: UTF-8 ({letter!r} on line {_line_of(data, mixed.start())}) "
            f"and Windows-1252 ({where}); save it again from the spreadsheet",
        )
    try:
        return data.decode("cp1252"), Encoding.WINDOWS_1252
    except UnicodeDecodeError as error:
        raise InvalidValueError(
            "file",
            f"is neither UTF-8 nor Windows-1252 text (line {_line_of(data, error.start)}: "
            f"byte 0x{data[error.start]:02X} means nothing in Windows-1252)",
        ) from None


def separator(header_line: str) -> str:
    """The field separator, read from the header line (column names hold neither , nor ;)."""
    semicolons, commas = header_line.count(";"), header_line.count(",")
    if semicolons and commas:
        raise InvalidValueError(
            "file",
            f"its header line {shown(header_line)} holds both ';' and ',': "
            "separate the columns with one of them",
        )
    return ";" if semicolons else ","


def without_empty_columns(
    header: list[str], records: list[tuple[int, list[str]]]
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The table without the unnamed, empty columns a spreadsheet may leave at its right end
    (`a;b;c;;` when cells right of the table were once formatted)."""
    width = len(header)
    while (
        width
        and not header[width - 1]
        and all(
            not record[width - 1].strip() for _, record in records if len(record) == len(header)
        )
    ):
        width -= 1
    if width == len(header):
        return header, records
    trimmed = [(line, r[:width] if len(r) == len(header) else r) for line, r in records]
    return header[:width], trimmed


@dataclass(frozen=True, slots=True)
class Number:
    """A number read from a cell: plain ASCII decimal text, and the decimal mark it used."""

    text: str
    mark: str | None


def read_number(value: str, *, thousands: bool) -> Number:
    """Read `45 000,50`, `45.000,50`, `45000,50`, `45000.50` (and `45,000.50`) as 45000.50.

    With `thousands` false (percentages, at most 100), only `2,5` or `2.5` forms are read, and a
    comma or dot before three digits is a decimal mark. With `thousands` true (amounts), a
    single dot or comma between 1 to 3 digits (not 0) and exactly 3 digits (`45.000`, `1,500`)
    could be either: it is refused, never guessed.
    """
    match = PLAIN.fullmatch(value)
    if match is not None:
        sign, whole, mark, decimals = match.groups()
        if thousands and mark and len(decimals) == 3 and AMBIGUOUS_WHOLE.fullmatch(whole):
            raise CellError(
                f"is ambiguous: {mark!r} may separate thousands ({whole}{decimals}) or decimals "
                f"({whole}.{decimals}); write {whole}{decimals} or {whole} {decimals} for the "
                f"first, {whole},{decimals[:2]} for the second"
            )
    elif thousands:
        match = SPACED.fullmatch(value) or DOTTED.fullmatch(value) or COMMAED.fullmatch(value)
    if match is None:
        example = "45 000,50, 45.000,50, 45000,50 or 45000.50" if thousands else "2,5 or 2.5"
        raise CellError(
            f"is not a number written like {example} (ASCII digits, a decimal comma or point"
            + (", spaces or dots between thousands" if thousands else "")
            + "; no exponent or other script)"
        )
    sign, whole, mark, decimals = match.groups()
    digits = re.sub(rf"[{SPACES}.,]", "", whole)
    return Number(f"{sign}{digits}" + (f".{decimals}" if decimals else ""), mark)


def read_date(value: str) -> tuple[date, str]:
    """Read `YYYY-MM-DD` or `DD/MM/YYYY` (ASCII digits); return the day and the format used."""
    if (iso := ISO_DATE.fullmatch(value)) is not None:
        year, month, day = iso.groups()
        style = ISO_FORMAT
    elif (french := FRENCH_DATE.fullmatch(value)) is not None:
        day, month, year = french.groups()
        style = FRENCH_FORMAT
    else:
        raise CellError(f"is not a day written {ISO_FORMAT} or {FRENCH_FORMAT}")
    try:
        return date(int(year), int(month), int(day)), style
    except ValueError as error:
        raise CellError(f"is not a day written {style}: {error}") from None


@dataclass(slots=True)
class Styles:
    """The decimal marks and date formats a file uses, each with the first cell that used it."""

    marks: dict[str, str] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)

    def number(self, number: Number, where: str) -> None:
        """Note a number's decimal mark (none for a whole number)."""
        if number.mark is not None:
            self.marks.setdefault("decimal comma" if number.mark == "," else "decimal point", where)

    def date(self, style: str, where: str) -> None:
        """Note a date's format."""
        self.dates.setdefault(style, where)

    @property
    def decimal_mark(self) -> str | None:
        """The file's decimal mark, if any number has decimals."""
        if not self.marks:
            return None
        return "," if "decimal comma" in self.marks else "."

    @property
    def date_format(self) -> str | None:
        """The file's date format."""
        return next(iter(self.dates), None)

    def check(self) -> None:
        """Refuse a file that writes numbers or dates in two ways: its rows were not saved alike."""
        for kind, seen in (("numbers", self.marks), ("dates", self.dates)):
            if len(seen) > 1:
                ways = " and ".join(f"{style} ({where})" for style, where in seen.items())
                raise InvalidValueError(
                    "file", f"writes {kind} in two ways, {ways}: write them all the same way"
                )
