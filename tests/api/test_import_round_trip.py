"""Any valid commitment, written as French Excel saves it, reads back to the same command."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from api.csv_import import command
from api.csv_rows import COLUMNS, RECORD, Row, RowReader, read_table
from domain.application import Ledger
from domain.commands import NewCommitment
from domain.reference import Instrument
from eventstore.settings import library_env

# Letters and signs a French spreadsheet holds, all in Windows-1252; `;` and quotes included.
FRENCH = "abcdeéèêëfghiîïjklmnoôœpqrstuùûüvwxyÿzÀÂÇÉÈÊÎÔŒÙABCXYZ0123456789"
SIGNS = " ;,'\"’—€&()/°"


@pytest.fixture(scope="module")
def ledger() -> Iterator[Ledger]:
    """A ledger the reader may ask (rows name their project by id: it is not asked)."""
    app = Ledger(env=library_env("memory://"))
    yield app
    app.close()


texts = st.builds(
    lambda first, rest: (first + rest).rstrip(),
    st.sampled_from(FRENCH),
    st.text(alphabet=FRENCH + SIGNS, max_size=60),
)
percents = st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal(100), places=4, allow_nan=False
)


@st.composite
def commitments(draw: st.DrawFn) -> NewCommitment:
    """A valid commitment command of any instrument."""
    instrument = draw(st.sampled_from(list(Instrument)))
    kind, date_field = RECORD[instrument]
    details: dict[str, Any]
    if instrument is Instrument.LOAN:
        details = {
            "duration_months": draw(st.integers(1, 600)),
            "rate": draw(st.none() | percents),
            "product": draw(st.none() | texts),
        }
    elif instrument is Instrument.EQUITY:
        details = {"stake_percent": draw(st.none() | percents), "vehicle": draw(st.none() | texts)}
    else:
        details = {"subject": draw(texts), "provider": draw(st.none() | texts)}
    return kind(
        project_id=draw(st.uuids()),
        commitment_id=draw(st.uuids()),
        amount=Decimal(draw(st.integers(1, 10**14))).scaleb(-2),
        **{date_field: draw(st.dates(date(1950, 1, 1), date(2100, 12, 31)))},
        **details,
    )


def french_amount(amount: Decimal, thousands: str, cents: bool) -> str:
    """`45 000,50` with the given thousands separator; a dot-grouped amount keeps its cents."""
    whole, _, decimals = f"{amount:.2f}".partition(".")
    groups = [whole[max(0, end - 3) : end] for end in range(len(whole), 0, -3)][::-1]
    written = thousands.join(groups)
    if cents or decimals != "00" or thousands == ".":
        written += f",{decimals}"
    return written


def french(value: Any) -> str:
    """A detail written French-style: a decimal comma, text as is, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f").replace(".", ",")
    return str(value)


@settings(max_examples=200, deadline=None)
@given(
    commitment=commitments(),
    thousands=st.sampled_from(["", " ", "\u00a0", "."]),
    cents=st.booleans(),
)
def test_a_commitment_written_french_style_reads_back_to_the_same_command(
    ledger: Ledger, commitment: NewCommitment, thousands: str, cents: bool
) -> None:
    fields = commitment.arguments()
    kind_instrument = next(i for i, (kind, _) in RECORD.items() if kind is type(commitment))
    date_field = RECORD[kind_instrument][1]
    on: date = fields[date_field]
    cells = {
        "project_id": str(commitment.project_id),
        "instrument": kind_instrument.value,
        "commitment_id": str(commitment.commitment_id),
        "amount": french_amount(Decimal(fields["amount"]), thousands, cents),
        "date": on.strftime("%d/%m/%Y"),
        **{name: french(fields[name]) for name in fields if name in COLUMNS},
    }
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow([cells.get(name, "") for name in COLUMNS])

    data = buffer.getvalue().encode("cp1252")
    # Bytes that are also UTF-8 (ASCII, or "Â°" and the like) are read as UTF-8 (docs/import.md).
    assume(data.isascii() or not _is_utf8(data))

    table = read_table(data)
    reader = RowReader(ledger, table)
    row = reader.row(*table.records[0])
    reader.styles.check()

    expected = "utf-8" if data.isascii() else "windows-1252"
    assert (table.encoding, table.delimiter) == (expected, ";")
    assert isinstance(row, Row), row
    assert command(row) == commitment
    assert UUID(cells["commitment_id"]) == row.commitment_id


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
