"""CSV import of files as French spreadsheets save them: Windows-1252 or UTF-8, `;`, decimal
commas with thousands separators, DD/MM/YYYY dates; every error quotes the cell as typed."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.csv_import import run_import
from api.settings import Settings
from api.tokens import create_token
from demo import load_demo
from domain.application import Ledger
from domain.indexes import IdempotencyClaim
from domain.tokens import Role
from eventstore.settings import library_env
from tests.api.test_import import SEED, post, restored_logging, seed_projects

__all__ = ["restored_logging"]

FRENCH_EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "commitments-fr-excel.csv"
HEADER = "project_reference;directorate;instrument;amount;date;duration_months;rate;subject"
NBSP, NNBSP = "\u00a0", "\u202f"


def french_file(*rows: str, header: str = HEADER) -> str:
    """A `;` file with CRLF line endings, as Excel writes it."""
    return "\r\n".join([header, *rows]) + "\r\n"


def loan(amount: str = "45 000,50", on: str = "01/03/2024", rate: str = "2,5") -> str:
    """A loan row on the Hauts-de-France project."""
    return f"HDF-2024-0001;hauts_de_france;loan;{amount};{on};120;{rate};"


def study(subject: str) -> str:
    """A study row on the Hauts-de-France project."""
    return f"HDF-2024-0001;hauts_de_france;study;1 200,00;01/03/2024;;;{subject}"


@pytest.fixture
def projects(api_ledger: Ledger) -> dict[str, UUID]:
    """Two projects to import commitments for."""
    return seed_projects(api_ledger)


def amounts(ledger: Ledger, project_id: UUID) -> list[Decimal]:
    """The amounts of a project's commitments."""
    return [c.amount for c in ledger.project(project_id).commitments.values()]


# Encodings and separators --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "encoding"),
    [
        (lambda text: text.encode("utf-8"), "utf-8"),
        (lambda text: "\ufeff".encode() + text.encode("utf-8"), "utf-8-sig"),
        (lambda text: text.encode("cp1252"), "windows-1252"),
        (lambda text: text.encode("latin-1"), "windows-1252"),
    ],
    ids=["utf-8", "utf-8-bom", "windows-1252", "latin-1"],
)
def test_each_encoding_is_read_and_named_in_the_report(
    client: TestClient,
    tokens: dict[str, str],
    projects: dict[str, UUID],
    api_ledger: Ledger,
    encode: object,
    encoding: str,
) -> None:
    data = french_file(study("Étude d'impact à Liévin, cœur de ville"))
    assert callable(encode)

    response = post(client, tokens["admin"], encode(data.replace("œ", "oe")))

    assert response.status_code == 201, response.text
    assert response.json()["encoding"] == encoding
    study_read = next(iter(api_ledger.project(projects["hdf"]).commitments.values()))
    assert study_read.details["subject"] == "Étude d'impact à Liévin, coeur de ville"


def test_windows_1252_letters_that_latin_1_lacks_are_read(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    subject = "Étude d’opportunité — Œuvre à 2 €"

    response = post(client, tokens["admin"], french_file(study(subject)).encode("cp1252"))

    assert response.status_code == 201, response.text
    study_read = next(iter(api_ledger.project(projects["hdf"]).commitments.values()))
    assert study_read.details["subject"] == subject


@pytest.mark.parametrize("sep", [",", ";"])
def test_the_separator_is_read_from_the_header_and_named_in_the_report(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], sep: str
) -> None:
    data = french_file(loan(rate="2.5", amount="45000.50").replace(";", sep))

    response = post(client, tokens["admin"], data.replace(";", sep))

    assert response.status_code == 201, response.text
    assert response.json()["separator"] == sep


# Numbers and dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "45 000,50",
        f"45{NBSP}000,50",
        f"45{NNBSP}000,50",
        "45.000,50",
        "45000,50",
        "45000.50",
        "45 000.50",
        '"45,000.50"',
        "45000,5",
    ],
)
def test_each_way_of_writing_an_amount_is_read_exactly(
    client: TestClient,
    tokens: dict[str, str],
    projects: dict[str, UUID],
    api_ledger: Ledger,
    typed: str,
) -> None:
    response = post(client, tokens["admin"], french_file(loan(amount=typed, rate="")).encode())

    assert response.status_code == 201, response.text
    assert amounts(api_ledger, projects["hdf"]) == [Decimal("45000.50")]


def test_thousands_separators_in_millions_are_read(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    rows = [loan(amount="1.250.000"), loan(amount=f"12{NBSP}000{NBSP}000,00", on="02/03/2024")]

    response = post(client, tokens["admin"], french_file(*rows).encode())

    assert response.status_code == 201, response.text
    assert sorted(amounts(api_ledger, projects["hdf"])) == [Decimal(1250000), Decimal(12000000)]


@pytest.mark.parametrize("typed", ["45.000", "45,000", "1.500", "-45.000"])
def test_an_amount_with_one_dot_or_comma_before_three_digits_is_refused_as_ambiguous(
    client: TestClient,
    tokens: dict[str, str],
    projects: dict[str, UUID],
    api_ledger: Ledger,
    typed: str,
) -> None:
    head = api_ledger.head_position()
    cell = f'"{typed}"'

    response = post(client, tokens["admin"], french_file(loan(amount=cell)).encode())

    assert response.status_code == 422
    reason = response.json()["rows"][0]["reason"]
    assert f"column 4 (amount) '{typed}': is ambiguous" in reason
    assert api_ledger.head_position() == head


def test_a_rate_with_three_decimals_is_a_decimal_not_thousands(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    response = post(client, tokens["admin"], french_file(loan(rate="2,125")).encode())

    assert response.status_code == 201, response.text
    recorded = next(iter(api_ledger.project(projects["hdf"]).commitments.values()))
    assert recorded.details["rate"] == Decimal("2.125")


@pytest.mark.parametrize("typed", ["2024-03-01", "01/03/2024"])
def test_a_date_is_read_iso_or_french(
    client: TestClient,
    tokens: dict[str, str],
    projects: dict[str, UUID],
    api_ledger: Ledger,
    typed: str,
) -> None:
    response = post(client, tokens["admin"], french_file(loan(on=typed)).encode())

    assert response.status_code == 201, response.text
    recorded = next(iter(api_ledger.project(projects["hdf"]).commitments.values()))
    assert recorded.committed_on == date(2024, 3, 1)
    expected = "DD/MM/YYYY" if "/" in typed else "YYYY-MM-DD"
    assert response.json()["date_format"] == expected


# Errors quote the cell as typed, with its line and column --------------------------------------


@pytest.mark.parametrize(
    ("row", "quoted"),
    [
        (
            loan(amount=f"45{NBSP}000,505"),
            f"column 4 (amount) '45{NBSP}000,505': must have at most 2",
        ),
        (loan(amount="45 000,5O"), "column 4 (amount) '45 000,5O': is not a number"),
        (loan(amount=" -1 200,00 "), "column 4 (amount) ' -1 200,00 ': must be greater than 0"),
        (loan(rate="1 000,5"), "column 7 (rate) '1 000,5': is not a number"),
        (loan(rate="150,5"), "column 7 (rate) '150,5': is a yearly percentage, at most 100"),
        (loan(on="31/02/2024"), "column 5 (date) '31/02/2024': is not a day written DD/MM/YYYY"),
        (loan(on="12/31/2024"), "column 5 (date) '12/31/2024': is not a day written DD/MM/YYYY"),
        (loan(on="1/3/24"), "column 5 (date) '1/3/24': is not a day written YYYY-MM-DD or"),
        (loan(on="01/03/2023"), "column 5 (date) '01/03/2023': granted_on 2023-03-01 precedes"),
        (loan(on="01/03/2101"), "column 5 (date) '01/03/2101': must lie between"),
        (study("=SOMME(A1)"), "column 8 (subject) '=SOMME(A1)' would be read as a formula"),
        (study("Étude\u202e"), "column 8 (subject) 'Étude\\u202e': must not contain"),
        ("HDF-2099-0404;hauts_de_france;study;1,00;01/03/2024;;;x", "(project_reference) 'HDF-2"),
    ],
)
def test_an_error_quotes_the_cell_as_typed_with_its_line_and_column(
    client: TestClient,
    tokens: dict[str, str],
    projects: dict[str, UUID],
    api_ledger: Ledger,
    row: str,
    quoted: str,
) -> None:
    head = api_ledger.head_position()
    data = french_file(loan(on="02/03/2024"), row)

    response = post(client, tokens["admin"], data.encode())

    body = response.json()
    assert response.status_code == 422, response.text
    assert body["errors"][0]["loc"] == ["line", 3]
    assert quoted in body["errors"][0]["msg"]
    assert api_ledger.head_position() == head


def test_a_row_split_by_the_other_separator_names_the_files_separator(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID]
) -> None:
    response = post(client, tokens["admin"], french_file(loan().replace(";", ",")).encode())

    assert "separated by ';'" in response.json()["rows"][0]["reason"]


# Files refused whole ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (
            french_file(loan(amount="1 500,50"), loan(amount="1500.50", on="02/03/2024")).encode(),
            "writes numbers in two ways, decimal comma (line 2, column 4 (amount) '1 500,50') "
            "and decimal point (line 3, column 4 (amount) '1500.50')",
        ),
        (
            french_file(loan(), loan(on="2024-03-02")).encode(),
            "writes dates in two ways, DD/MM/YYYY (line 2, column 5 (date) '01/03/2024') "
            "and YYYY-MM-DD (line 3, column 5 (date) '2024-03-02')",
        ),
        (
            french_file(study("Étude")).encode() + study("Réseau").encode("cp1252") + b"\r\n",
            "mixes two encodings: UTF-8 ('É' on line 2) and Windows-1252 (line 3: byte 0xE9)",
        ),
        (
            french_file(study("Étude \x81")).encode("latin-1"),
            "neither UTF-8 nor Windows-1252 text (line 2: byte 0x81",
        ),
        (french_file(loan()).encode("utf-16"), "is UTF-16 text"),
        (french_file(loan(), header=HEADER.replace(";rate", ",rate")).encode(), "both ';' and ','"),
    ],
    ids=["decimal-marks", "date-formats", "encodings", "undefined-byte", "utf-16", "separators"],
)
def test_a_file_mixing_formats_is_refused_whole_saying_where(
    client: TestClient,
    tokens: dict[str, str],
    projects: dict[str, UUID],
    api_ledger: Ledger,
    data: bytes,
    detail: str,
) -> None:
    head = api_ledger.head_position()

    response = post(client, tokens["admin"], data)

    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    assert api_ledger.head_position() == head


def test_the_same_file_saved_in_another_encoding_is_the_same_file(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    data = french_file(study("Étude de faisabilité"), loan())
    post(client, tokens["admin"], data.encode("cp1252"))
    head = api_ledger.head_position()

    again = post(client, tokens["admin"], "\ufeff" + data.replace("\r\n", "\n"))

    assert again.status_code == 200, again.text
    assert again.json()["already_recorded"] == 2
    assert api_ledger.head_position() == head


def test_a_french_file_imports_on_each_store(ledger: Ledger) -> None:
    projects = seed_projects(ledger)
    data = french_file(loan(), study("Étude d’impact")).encode("cp1252")

    report = run_import(ledger, SEED, data, dry_run=False)

    assert (report.accepted, report.encoding, report.separator) == (2, "windows-1252", ";")
    assert sorted(amounts(ledger, projects["hdf"])) == [Decimal("1200.00"), Decimal("45000.50")]


# The example file -------------------------------------------------------------------------------


def test_the_example_is_saved_as_french_excel_saves_it() -> None:
    data = FRENCH_EXAMPLE.read_bytes()

    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("cp1252")
    assert text.count("\r\n") == text.count("\n") == 7
    assert text.splitlines()[0].count(";") == 13
    assert "8\u00a0500\u00a0000,00" in text
    assert "16/02/2026" in text
    assert "Société d’économie mixte" in text


def test_the_french_example_imports_as_is_into_the_demo_data() -> None:
    ledger = Ledger(env=library_env("memory://"))
    load_demo(ledger)
    token = create_token(ledger, name="admin", role=Role.ADMIN)[0]

    with TestClient(create_app(Settings(database_url="memory://"), ledger)) as client:
        response = post(client, f"Bearer {token}", FRENCH_EXAMPLE.read_bytes())

    report = response.json()
    assert response.status_code == 201, response.text
    assert (report["accepted"], report["refused"]) == (6, 0)
    assert (report["encoding"], report["separator"]) == ("windows-1252", ";")
    assert (report["decimal_mark"], report["date_format"]) == (",", "DD/MM/YYYY")
    loan_row = report["rows"][0]
    recorded = ledger.project(UUID(loan_row["project_id"])).commitments
    loan_read = recorded[UUID(loan_row["commitment_id"])]
    assert (loan_read.amount, loan_read.committed_on) == (Decimal(8500000), date(2026, 2, 16))
    assert loan_read.details["rate"] == Decimal("2.45")


@pytest.mark.slow
def test_the_cli_imports_the_french_example_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restored_logging: None
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    monkeypatch.setenv("FUNDING_DATABASE_URL", url)
    monkeypatch.setenv("FUNDING_LOG_FORMAT", "json")
    ledger = Ledger(env=library_env(url))
    load_demo(ledger)
    head = ledger.head_position()

    result = CliRunner().invoke(cli, ["import", str(FRENCH_EXAMPLE)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["accepted"], report["encoding"], report["separator"]) == (
        6,
        "windows-1252",
        ";",
    )
    assert "Read as windows-1252, fields separated by ';'" in result.stderr
    assert ledger.head_position() > head
    ledger.close()


def test_a_replayed_import_says_how_the_file_was_read_as_the_first_answer_did(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID]
) -> None:
    headers = {
        "Authorization": tokens["admin"],
        "Content-Type": "text/csv",
        "Idempotency-Key": "import-fr-1",
    }
    data = french_file(loan(), study("Étude")).encode("cp1252")
    first = client.post("/v1/imports", content=data, headers=headers)

    again = client.post("/v1/imports", content=data, headers=headers)

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.json()["encoding"] == "windows-1252"


def test_the_notes_of_a_keyed_batch_are_kept_with_its_record_and_given_back(
    ledger: Ledger,
) -> None:
    seed_projects(ledger)
    table = french_file(loan(), study("Étude")).encode("cp1252")
    claim = IdempotencyClaim(scope="admin", key="k", fingerprint="f")
    first = run_import(ledger, SEED, table, dry_run=False, idempotency=claim)

    replayed = ledger.execute_batch(SEED, [], idempotency=claim, notes={"encoding": "other"})

    assert not first.replayed
    assert replayed.replayed
    assert replayed.notes == {
        "encoding": "windows-1252",
        "separator": ";",
        "decimal_mark": ",",
        "date_format": "DD/MM/YYYY",
    }


def test_unnamed_empty_columns_a_spreadsheet_leaves_at_the_right_are_ignored(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    data = french_file(loan() + ";;", study("Étude") + ";;", header=HEADER + ";;")

    response = post(client, tokens["admin"], data.encode("cp1252"))

    assert response.status_code == 201, response.text
    assert len(amounts(api_ledger, projects["hdf"])) == 2


def test_an_unnamed_column_holding_something_is_refused(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID]
) -> None:
    data = french_file(loan() + ";x", header=HEADER + ";")

    response = post(client, tokens["admin"], data.encode("cp1252"))

    assert response.status_code == 422
    assert "unknown columns (unnamed)" in response.json()["detail"]
