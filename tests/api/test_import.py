"""CSV import: every row checked, then all recorded in one transaction or none; the CLI too."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
import structlog
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.settings import Settings
from api.tokens import create_token
from demo import load_demo
from domain.application import Ledger
from domain.commands import IdentifyProject
from domain.tokens import Role
from domain.values import Actor
from eventstore.settings import library_env

SEED = Actor(name="seed", correlation_id="seed")
EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "commitments.csv"
HEADER = "project_reference,project_id,directorate,instrument,amount,date,duration_months,subject"


def seed_projects(ledger: Ledger) -> dict[str, UUID]:
    """Record a Hauts-de-France project (reference HDF-2024-0001) and a Bretagne one."""
    hdf = ledger.execute(
        SEED,
        IdentifyProject(
            name="Pôle d'échanges de Lens",
            territory="commune:62498",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 10),
            reference="HDF-2024-0001",
        ),
    ).id
    bre = ledger.execute(
        SEED,
        IdentifyProject(
            name="Salle de spectacles de Fougères",
            territory="commune:35115",
            theme="culture_sport",
            directorate="bretagne",
            identified_on=date(2024, 1, 10),
        ),
    ).id
    return {"hdf": hdf, "bre": bre}


@pytest.fixture
def projects(api_ledger: Ledger) -> dict[str, UUID]:
    """Two projects to import commitments for."""
    return seed_projects(api_ledger)


def valid_file(projects: dict[str, UUID]) -> str:
    """A file of three good rows: a loan and a study by reference, equity by id."""
    return (
        "project_reference,project_id,directorate,instrument,amount,date,duration_months,"
        "stake_percent,subject\n"
        "HDF-2024-0001,,hauts_de_france,loan,12000000.00,2024-03-01,300,,\n"
        f",{projects['bre']},,equity,450000,2024-03-02,,24.5,\n"
        "HDF-2024-0001,,hauts_de_france,study,85000.00,2024-03-03,,,Étude d'impact\n"
    )


def post(client: TestClient, token: str, data: str | bytes, *, dry_run: bool = False) -> Response:
    """Send a CSV file to the import endpoint."""
    response: Response = client.post(
        "/v1/imports",
        params={"dry_run": str(dry_run).lower()},
        content=data.encode() if isinstance(data, str) else data,
        headers={"Authorization": token, "Content-Type": "text/csv; charset=utf-8"},
    )
    return response


def test_a_valid_file_records_every_row_in_one_run_of_the_log(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    head = api_ledger.head_position()

    response = post(client, tokens["admin"], valid_file(projects))

    report = response.json()
    positions = sorted(
        e.position
        for p in projects.values()
        for e in api_ledger.project_events(p)
        if e.position > head
    )
    assert response.status_code == 201
    assert (report["accepted"], report["refused"]) == (3, 0)
    # The three commitments' id claims come first, in the same transaction.
    assert positions == [head + 4, head + 5, head + 6]
    assert report["position"] == api_ledger.head_position() == head + 6


def test_each_row_reports_its_line_project_and_commitment(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    report = post(client, tokens["admin"], valid_file(projects)).json()

    first = report["rows"][0]
    recorded = api_ledger.project(projects["hdf"]).commitments[UUID(first["commitment_id"])]
    assert first["line"] == 2
    assert first["status"] == "ok"
    assert first["project_id"] == str(projects["hdf"])
    assert recorded.amount == 12000000


def test_a_file_with_bad_rows_is_refused_whole_with_each_bad_line_and_its_reason(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    head = api_ledger.head_position()
    lines = valid_file(projects).splitlines()
    lines.insert(2, "HDF-2099-0404,,hauts_de_france,study,1000.00,2024-03-01,,,Étude")
    lines[3] = lines[3].replace("450000", "450000.125")

    response = post(client, tokens["admin"], "\n".join(lines) + "\n")

    body = response.json()
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in body["errors"]] == [["line", 3], ["line", 4]]
    assert "HDF-2099-0404" in body["errors"][0]["msg"]
    assert "2 decimals" in body["errors"][1]["msg"]
    assert (body["accepted"], body["refused"]) == (2, 2)
    assert api_ledger.head_position() == head


def test_a_dry_run_stores_nothing_and_reports_the_rows_that_would_be_recorded(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    head = api_ledger.head_position()

    response = post(client, tokens["admin"], valid_file(projects), dry_run=True)

    report = response.json()
    assert response.status_code == 200
    assert report["dry_run"] is True
    assert [row["status"] for row in report["rows"]] == ["ok", "ok", "ok"]
    assert "position" not in report
    assert api_ledger.head_position() == head


def test_a_dry_run_with_a_bad_row_is_422_too(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID]
) -> None:
    data = valid_file(projects).replace("12000000.00", "-1")

    response = post(client, tokens["admin"], data, dry_run=True)

    assert response.status_code == 422
    assert response.json()["dry_run"] is True


def test_a_semicolon_file_with_a_bom_and_decimal_commas_is_read(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    data = "\ufeff" + (
        "project_reference;directorate;instrument;amount;date;duration_months\r\n"
        "HDF-2024-0001;hauts_de_france;loan;1500000,50;2024-03-01;240\r\n"
    )

    response = post(client, tokens["admin"], data.encode("utf-8"))

    assert response.status_code == 201, response.text
    figures = api_ledger.project(projects["hdf"]).commitments
    assert [c.amount for c in figures.values()] == [1500000.50]


def test_importing_the_same_file_again_reports_every_row_already_recorded(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    post(client, tokens["admin"], valid_file(projects))
    head = api_ledger.head_position()

    again = post(client, tokens["admin"], valid_file(projects))

    report = again.json()
    assert again.status_code == 200
    assert (report["accepted"], report["already_recorded"]) == (0, 3)
    assert api_ledger.head_position() == head


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("HDF-2024-0001,,,loan,1000.00,2024-03-01,12,", "needs its directorate"),
        ("HDF-2024-0001,{bre},hauts_de_france,loan,1000.00,2024-03-01,12,", "either"),
        (",,,loan,1000.00,2024-03-01,12,", "either"),
        (",not-a-uuid,,loan,1000.00,2024-03-01,12,", "not a UUID"),
        ("HDF-2024-0001,,nowhere,loan,1000.00,2024-03-01,12,", "unknown directorate"),
        ("HDF-2024-0001,,hauts_de_france,grant,1000.00,2024-03-01,12,", "loan, equity or study"),
        ("HDF-2024-0001,,hauts_de_france,loan,1000.00,2024/03/01,12,", "YYYY-MM-DD"),
        ("HDF-2024-0001,,hauts_de_france,loan,1000.00,2024-03-01,,", "duration_months"),
        ("HDF-2024-0001,,hauts_de_france,loan,1000.00,2024-03-01,12,Étude", "study rows only"),
        ("HDF-2024-0001,,hauts_de_france,study,1000.00,2024-03-01,,", "subject"),
        ("HDF-2024-0001,,hauts_de_france,loan,,2024-03-01,12,", "amount is required"),
        ("HDF-2024-0001,,hauts_de_france,loan,abc,2024-03-01,12,", "amount"),
        ("HDF-2024-0001,,hauts_de_france,loan,1000.00,2023-03-01,12,", "precedes"),
        (",{bre},hauts_de_france,loan,1000.00,2024-03-01,12,", "belongs to 'bretagne'"),
        ("HDF-2024-0001,,hauts_de_france,loan,1000.00", "has 5 fields"),
    ],
)
def test_a_bad_row_is_refused_with_its_reason(
    client: TestClient,
    tokens: dict[str, str],
    projects: dict[str, UUID],
    api_ledger: Ledger,
    row: str,
    reason: str,
) -> None:
    head = api_ledger.head_position()

    response = post(client, tokens["admin"], f"{HEADER}\n{row.format(bre=projects['bre'])}\n")

    assert response.status_code == 422
    assert reason in response.json()["rows"][0]["reason"]
    assert api_ledger.head_position() == head


FORMULA = "would be read as a formula by a spreadsheet"
RICH_HEADER = (
    "project_reference,directorate,instrument,amount,date,duration_months,rate,product,"
    "stake_percent,vehicle,subject,provider"
)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,=1+1,", FORMULA),
        ("HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,Étude,+33 1 23", FORMULA),
        ("HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,-2+3,", FORMULA),
        ("HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,@SUM(A1),", FORMULA),
        ('HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,," =cmd|x",', FORMULA),
        ("HDF-2024-0001,hauts_de_france,loan,1000.00,2024-03-01,12,,=HYPERLINK(1),,,,", FORMULA),
        ("HDF-2024-0001,hauts_de_france,equity,1000.00,2024-03-01,,,,,@x,,", FORMULA),
        ("=HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,Étude,", FORMULA),
        ("HDF-2024-0001,hauts_de_france,study,-5,2024-03-01,,,,,,Étude,", "greater than 0"),
        ("HDF-2024-0001,hauts_de_france,study,１２,2024-03-01,,,,,,Étude,", "ASCII digits"),
        ("HDF-2024-0001,hauts_de_france,study,١٢,2024-03-01,,,,,,Étude,", "ASCII digits"),
        ("HDF-2024-0001,hauts_de_france,study,1_000,2024-03-01,,,,,,Étude,", "ASCII digits"),
        ("HDF-2024-0001,hauts_de_france,study,1e3,2024-03-01,,,,,,Étude,", "ASCII digits"),
        ("HDF-2024-0001,hauts_de_france,loan,1000.00,2024-03-01,１２,,,,,,", "duration_months"),
        ("HDF-2024-0001,hauts_de_france,loan,1000.00,2024-03-01,²,,,,,,", "duration_months"),
        ("HDF-2024-0001,hauts_de_france,loan,1000.00,2024-03-01,12,1_0,,,,,", "rate"),
        ("HDF-2024-0001,hauts_de_france,loan,1000.00,2024-03-01,12,0.{zeros}1,,,,,", "rate"),
        ("HDF-2024-0001,hauts_de_france,loan,1000.00,２０２４-03-01,12,,,,,,", "YYYY-MM-DD"),
        ("HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,\u200b,", "subject"),
        ("HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,É\u202etude,", "subject"),
        ("HDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,Étude,x\x7f", "provider"),
    ],
)
def test_a_lenient_or_formula_cell_is_refused_with_its_reason(
    client: TestClient,
    tokens: dict[str, str],
    projects: dict[str, UUID],
    api_ledger: Ledger,
    row: str,
    reason: str,
) -> None:
    head = api_ledger.head_position()
    data = f"{RICH_HEADER}\n{row.format(zeros='0' * 4999)}\n"

    response = post(client, tokens["admin"], data)

    assert response.status_code == 422, response.text
    assert reason in response.json()["rows"][0]["reason"]
    assert api_ledger.head_position() == head


def test_a_free_text_cell_with_a_dash_inside_is_recorded(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID], api_ledger: Ledger
) -> None:
    data = f"{RICH_HEADER}\nHDF-2024-0001,hauts_de_france,study,1000.00,2024-03-01,,,,,,a-b = c,\n"

    response = post(client, tokens["admin"], data)

    assert response.status_code == 201, response.text
    study = next(iter(api_ledger.project(projects["hdf"]).commitments.values()))
    assert study.details["subject"] == "a-b = c"


def test_two_rows_under_one_commitment_id_are_refused(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID]
) -> None:
    row = f",{projects['hdf']},,loan,3f1c9a52-7d1e-4b8a-9f0e-2c6d5b4a3e21,1000.00,2024-03-01,12"
    header = "project_reference,project_id,directorate,instrument,commitment_id,amount,date"
    data = f"{header},duration_months\n{row}\n{row.replace('1000.00', '2000.00')}\n"

    response = post(client, tokens["admin"], data)

    assert response.json()["rows"][1]["reason"].endswith("already exists")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"project_reference,directorate,instrument,amount,date\n", "no rows"),
        (b"project_reference,directorate,instrument,amount,when\nX,Y,loan,1,2024-01-01\n", "when"),
        (b"directorate,instrument,amount,date\nhauts_de_france,loan,1,2024-01-01\n", "missing"),
        (b"project_id,instrument,amount,date\n\x81,loan,1,2024-01-01\n", "UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_as_a_table_of_commitments_is_422(
    client: TestClient, tokens: dict[str, str], data: bytes, reason: str
) -> None:
    response = post(client, tokens["admin"], data)

    assert response.status_code == 422
    assert reason in response.json()["detail"]


def test_a_file_sent_as_another_media_type_is_415(
    client: TestClient, tokens: dict[str, str], projects: dict[str, UUID]
) -> None:
    response = client.post(
        "/v1/imports",
        content=valid_file(projects).encode(),
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    assert response.status_code == 415


def test_the_documented_example_imports_into_the_demo_data() -> None:
    ledger = Ledger(env=library_env("memory://"))
    load_demo(ledger)
    token = create_token(ledger, name="admin", role=Role.ADMIN)[0]
    rows = len(EXAMPLE.read_text(encoding="utf-8").splitlines()) - 1

    with TestClient(create_app(Settings(database_url="memory://"), ledger)) as client:
        response = post(client, f"Bearer {token}", EXAMPLE.read_bytes())

    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == rows


# The command line ---------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put back the logging set-up the CLI replaces, for the tests that follow."""
    # The same processor list, not a copy: loggers already cached hold on to it.
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restored_logging: None
) -> Iterator[Ledger]:
    """A fresh SQLite store that the CLI is pointed at, with two projects."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("FUNDING_DATABASE_URL", url)
    monkeypatch.setenv("FUNDING_LOG_FORMAT", "json")
    ledger = Ledger(env=library_env(url))
    seed_projects(ledger)
    yield ledger
    ledger.close()


def test_the_cli_imports_a_file_and_prints_the_report(cli_store: Ledger, tmp_path: Path) -> None:
    projects = {"hdf": cli_store.project_id_for_reference("hauts_de_france", "HDF-2024-0001")}
    path = tmp_path / "commitments.csv"
    path.write_text(
        "project_reference,directorate,instrument,amount,date,subject\n"
        "HDF-2024-0001,hauts_de_france,study,85000.00,2024-03-03,Étude d'impact\n",
        encoding="utf-8",
    )

    result = runner.invoke(cli, ["import", str(path)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 1
    assert projects["hdf"] is not None
    assert len(cli_store.project(projects["hdf"]).commitments) == 1


def test_the_cli_dry_run_records_nothing(cli_store: Ledger, tmp_path: Path) -> None:
    head = cli_store.head_position()
    path = tmp_path / "commitments.csv"
    path.write_text(
        "project_reference,directorate,instrument,amount,date,subject\n"
        "HDF-2024-0001,hauts_de_france,study,85000.00,2024-03-03,Étude\n",
        encoding="utf-8",
    )

    result = runner.invoke(cli, ["import", str(path), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert cli_store.head_position() == head


def test_the_cli_exits_1_and_names_the_refused_rows(cli_store: Ledger, tmp_path: Path) -> None:
    head = cli_store.head_position()
    path = tmp_path / "commitments.csv"
    path.write_text(
        "project_reference,directorate,instrument,amount,date,subject\n"
        "HDF-2024-0001,hauts_de_france,study,85000.00,2024-03-03,Étude\n"
        "HDF-2024-0404,hauts_de_france,study,85000.00,2024-03-03,Étude\n",
        encoding="utf-8",
    )

    result = runner.invoke(cli, ["import", str(path)])

    assert result.exit_code == 1
    assert "HDF-2024-0404" in result.stderr
    assert cli_store.head_position() == head


def test_the_cli_refuses_a_row_typed_twice_unless_confirmed(
    cli_store: Ledger, tmp_path: Path
) -> None:
    head = cli_store.head_position()
    path = tmp_path / "commitments.csv"
    row = "HDF-2024-0001,hauts_de_france,study,85000.00,2024-03-03,Étude\n"
    path.write_text(
        "project_reference,directorate,instrument,amount,date,subject\n" + row + row,
        encoding="utf-8",
    )

    refused = runner.invoke(cli, ["import", str(path)])
    unchanged = cli_store.head_position()
    confirmed = runner.invoke(cli, ["import", str(path), "--confirm-duplicate"])

    assert refused.exit_code == 1
    assert "repeats line 2" in refused.stderr
    assert "possible duplicates" in refused.stderr
    assert unchanged == head
    assert confirmed.exit_code == 0, confirmed.output
    assert json.loads(confirmed.stdout)["accepted"] == 2
