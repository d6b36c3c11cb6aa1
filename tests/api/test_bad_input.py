"""Bad input: a problem+json with the right status, and nothing stored."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from domain.application import Ledger
from domain.commands import GrantLoan, IdentifyProject
from domain.values import Actor

SEED = Actor(name="seed", correlation_id="seed")
PROBLEM = "application/problem+json"
PROJECT = {
    "name": "Médiathèque de Wattrelos",
    "territory": "commune:59650",
    "theme": "culture_sport",
    "directorate": "hauts_de_france",
    "identified_on": "2024-01-10",
}


@pytest.fixture
def loan(api_ledger: Ledger) -> tuple[UUID, UUID]:
    """A project and a loan of 1,000,000.00 on it: (project id, commitment id)."""
    project = api_ledger.execute(
        SEED,
        IdentifyProject(
            name=PROJECT["name"],
            territory=PROJECT["territory"],
            theme=PROJECT["theme"],
            directorate=PROJECT["directorate"],
            identified_on=date(2024, 1, 10),
        ),
    )
    written = api_ledger.execute(
        SEED,
        GrantLoan(
            project_id=project.id,
            amount="1000000.00",
            granted_on=date(2024, 2, 1),
            duration_months=120,
        ),
    )
    assert written.commitment_id is not None
    return project.id, written.commitment_id


@pytest.fixture
def head(api_ledger: Ledger, loan: tuple[UUID, UUID]) -> int:
    """The log head before the bad request (the project and its loan recorded)."""
    return api_ledger.head_position()


def disburse(
    client: TestClient, token: str, loan: tuple[UUID, UUID], raw: bytes, **headers: str
) -> Response:
    """Send a disbursement whose amount is the raw JSON given."""
    project, commitment = loan
    response: Response = client.post(
        f"/v1/projects/{project}/commitments/{commitment}/disbursements",
        content=b'{"amount": ' + raw + b', "disbursed_on": "2024-03-01"}',
        headers={"Authorization": token, "Content-Type": "application/json", **headers},
    )
    return response


def problem(response: Response, status: int) -> dict[str, Any]:
    """Check a response is a problem of that status; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "raw",
    [
        b'"-5.00"',
        b"-5",
        b'"0"',
        b"0",
        b'"10.005"',
        b"10.005",
        b"1e13",
        b'"10000000000000.00"',
        b'"NaN"',
        b'"Infinity"',
        b'"abc"',
        b'"1e3"',
        b"true",
        b"null",
        b"[]",
    ],
)
def test_an_invalid_amount_is_422_on_the_amount_field(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    raw: bytes,
) -> None:
    response = disburse(client, tokens["admin"], loan, raw)

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "amount"]
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_bare_nan_or_infinity_is_not_json_and_is_400(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    raw: bytes,
) -> None:
    response = disburse(client, tokens["admin"], loan, raw)

    problem(response, 400)
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1949-12-31", "2101-01-01"])
def test_a_project_identified_outside_1950_to_2100_is_422(
    client: TestClient, tokens: dict[str, str], head: int, api_ledger: Ledger, day: str
) -> None:
    response = client.post(
        "/v1/projects",
        json={**PROJECT, "identified_on": day},
        headers={"Authorization": tokens["admin"]},
    )

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "identified_on"]
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_loan_granted_outside_1950_to_2100_is_422(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    day: str,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/loans",
        json={"amount": "1000.00", "granted_on": day, "duration_months": 12},
        headers={"Authorization": tokens["admin"]},
    )

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "granted_on"]
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("day", ["2024-02-30", "01/03/2024", "20240301", 20240301])
def test_a_date_not_written_yyyy_mm_dd_is_422(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    day: object,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        json={"on": day},
        headers={"Authorization": tokens["admin"]},
    )

    problem(response, 422)
    assert api_ledger.head_position() == head


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("territory", "commune:99999"),
        ("territory", "59650"),
        ("theme", "space_travel"),
        ("programme", "grand_paris"),
        ("directorate", "nowhere"),
        ("estimated_cost", "12.345"),
    ],
)
def test_an_unknown_code_or_bad_value_in_a_new_project_is_422(
    client: TestClient,
    tokens: dict[str, str],
    head: int,
    api_ledger: Ledger,
    field: str,
    value: str,
) -> None:
    response = client.post(
        "/v1/projects", json={**PROJECT, field: value}, headers={"Authorization": tokens["admin"]}
    )

    body = problem(response, 422)
    assert field in body["detail"]
    assert api_ledger.head_position() == head


def test_a_write_to_an_unknown_project_is_404(
    client: TestClient, tokens: dict[str, str], head: int, api_ledger: Ledger
) -> None:
    response = client.post(
        f"/v1/projects/{uuid4()}/completion",
        json={"on": "2024-05-01"},
        headers={"Authorization": tokens["admin"]},
    )

    problem(response, 404)
    assert api_ledger.head_position() == head


def test_a_disbursement_on_an_unknown_commitment_is_404(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    response = disburse(client, tokens["admin"], (loan[0], uuid4()), b'"10.00"')

    problem(response, 404)
    assert api_ledger.head_position() == head


def test_disbursing_more_than_committed_is_409(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    response = disburse(client, tokens["admin"], loan, b'"1000000.01"')

    body = problem(response, 409)
    assert "exceeds" in body["detail"]
    assert api_ledger.head_position() == head


def test_a_malformed_json_body_is_400(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        content=b'{"on": "2024-05-01"',
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    problem(response, 400)
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_write_that_is_not_json_is_415(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    content_type: str | None,
) -> None:
    headers = {"Authorization": tokens["admin"]}
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = client.post(
        f"/v1/projects/{loan[0]}/completion", content=b'{"on": "2024-05-01"}', headers=headers
    )

    problem(response, 415)
    assert api_ledger.head_position() == head


def test_a_json_body_in_another_charset_is_415(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        content='{"on": "2024-05-01"}'.encode("utf-16"),
        headers={
            "Authorization": tokens["admin"],
            "Content-Type": "application/json; charset=utf-16",
        },
    )

    problem(response, 415)
    assert api_ledger.head_position() == head


def test_a_body_over_1_mib_is_413(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    padding = "x" * (2 * 1024 * 1024)

    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        json={"on": "2024-05-01", "reason": padding},
        headers={"Authorization": tokens["admin"]},
    )

    problem(response, 413)
    assert api_ledger.head_position() == head


def test_a_streamed_body_over_1_mib_without_a_length_is_413(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    chunks = (b"x" * 65536 for _ in range(20))

    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        content=chunks,
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    problem(response, 413)
    assert api_ledger.head_position() == head


def test_an_unknown_field_is_422(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        json={"on": "2024-05-01", "when": "now"},
        headers={"Authorization": tokens["admin"]},
    )

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "when"]
    assert api_ledger.head_position() == head


def test_a_missing_field_is_422(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/loans",
        json={"amount": "1000.00", "granted_on": "2024-03-01"},
        headers={"Authorization": tokens["admin"]},
    )

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "duration_months"]
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("months", ["12", 12.5, True])
def test_a_loan_duration_that_is_not_a_whole_json_number_is_422(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    months: object,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/loans",
        json={"amount": "1000.00", "granted_on": "2024-03-01", "duration_months": months},
        headers={"Authorization": tokens["admin"]},
    )

    problem(response, 422)
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("if_match", ["abc", '"1", "2"', "-1"])
def test_an_if_match_that_is_not_a_version_is_400(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    if_match: str,
) -> None:
    response = disburse(client, tokens["admin"], loan, b'"10.00"', **{"If-Match": if_match})

    problem(response, 400)
    assert api_ledger.head_position() == head


def test_an_idempotency_key_with_control_characters_is_400(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    response = disburse(client, tokens["admin"], loan, b'"10.00"', **{"Idempotency-Key": "a\tb"})

    problem(response, 400)
    assert api_ledger.head_position() == head


@pytest.mark.parametrize(
    "url",
    [
        "/v1/audit/events?after={big}",
        "/v1/projects/{project}?version={big}",
        "/v1/projects/{project}/events?min_position={big}",
        "/v1/totals?min_position={big}",
    ],
)
def test_a_position_or_version_beyond_64_bits_is_422(
    client: TestClient, tokens: dict[str, str], loan: tuple[UUID, UUID], url: str
) -> None:
    project, _ = loan

    response = client.get(
        url.format(big=2**63, project=project), headers={"Authorization": tokens["admin"]}
    )

    problem(response, 422)


# Strict input: numbers, texts, bodies and query dates -----------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('"１２"'.encode(), id="full-width-digits"),
        pytest.param('"١٢"'.encode(), id="arabic-indic-digits"),
        pytest.param(b'"1_0"', id="underscore"),
        pytest.param(b"1e-999999999", id="json-tiny-exponent"),
        pytest.param(b"1e2", id="json-exponent"),
        pytest.param(b"1.5E+2", id="json-exponent-with-fraction"),
        pytest.param(b"1" + b"0" * 5000, id="json-5001-digit-integer"),
        pytest.param(b"10." + b"0" * 5000, id="json-5000-decimals"),
    ],
)
def test_an_amount_not_in_plain_ascii_decimals_is_422_on_the_amount_field(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    raw: bytes,
) -> None:
    response = disburse(client, tokens["admin"], loan, raw)

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "amount"]
    assert api_ledger.head_position() == head


def test_an_integer_json_amount_is_still_accepted(
    client: TestClient, tokens: dict[str, str], loan: tuple[UUID, UUID]
) -> None:
    response = disburse(client, tokens["admin"], loan, b"12")

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('"١٢"'.encode(), id="arabic-indic-digits"),
        pytest.param(b'"1_0"', id="underscore"),
        pytest.param(b'"0.' + b"0" * 4999 + b'1"', id="5000-decimals-text"),
        pytest.param(b"1e-999999999", id="json-tiny-exponent"),
        pytest.param(b"0." + b"0" * 4999 + b"1", id="json-5000-decimals"),
    ],
)
def test_a_loan_rate_not_in_plain_ascii_decimals_is_422_on_the_rate_field(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    raw: bytes,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/loans",
        content=b'{"amount": "1000.00", "granted_on": "2024-03-01", "duration_months": 12, '
        b'"rate": ' + raw + b"}",
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "rate"]
    assert api_ledger.head_position() == head


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "\u200b"),
        ("name", "\u200b \u200c\ufeff"),
        ("name", "Médiathèque\x7f"),
        ("name", "Médiathèque\u2028de Wattrelos"),
        ("name", "Médiathèque \u202eeuqèhtaidéM"),
        ("name", "Médiathèque\x9b"),
        ("reference", "\u2066HDF-1\u2069"),
    ],
)
def test_a_project_named_with_invisible_or_deceptive_text_is_422_naming_the_field(
    client: TestClient,
    tokens: dict[str, str],
    head: int,
    api_ledger: Ledger,
    field: str,
    value: str,
) -> None:
    response = client.post(
        "/v1/projects", json={**PROJECT, field: value}, headers={"Authorization": tokens["admin"]}
    )

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", field]
    assert api_ledger.head_position() == head


def test_a_cancellation_reason_of_zero_width_spaces_is_422(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    project, commitment = loan

    response = client.post(
        f"/v1/projects/{project}/commitments/{commitment}/cancellations",
        json={"amount": "10.00", "cancelled_on": "2024-03-01", "reason": "\u200b\u200b"},
        headers={"Authorization": tokens["admin"]},
    )

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "reason"]
    assert api_ledger.head_position() == head


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_a_json_body_not_in_utf8_is_400_saying_so(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    encoding: str,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        content='{"on": "2024-05-01"}'.encode(encoding),
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    body = problem(response, 400)
    assert body["detail"] == "the body must be UTF-8 JSON"
    assert api_ledger.head_position() == head


def test_a_json_body_in_latin1_is_400_saying_so(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        content='{"on": "2024-05-01", "reason": "livrée"}'.encode("latin-1"),
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    body = problem(response, 400)
    assert body["detail"] == "the body must be UTF-8 JSON"
    assert api_ledger.head_position() == head


def test_a_json_body_in_utf8_with_a_byte_order_mark_is_accepted(
    client: TestClient, tokens: dict[str, str], loan: tuple[UUID, UUID]
) -> None:
    response = client.post(
        f"/v1/projects/{loan[0]}/completion",
        content='{"on": "2024-05-01", "reason": "livrée"}'.encode("utf-8-sig"),
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"amount": "10.00", "amount": "999999.00", "disbursed_on": "2024-03-01"}', "amount"),
        (b'{"amount": "10.00", "disbursed_on": "2024-03-01", "x": {"k": 1, "k": 2}}', "k"),
        (b'{"amount": "10.00", "disbursed_on": "2024-03-01", "x": [{}, {"k": 1, "k": 1}]}', "k"),
    ],
)
def test_a_json_object_with_a_key_twice_is_400_naming_the_key(
    client: TestClient,
    tokens: dict[str, str],
    loan: tuple[UUID, UUID],
    head: int,
    api_ledger: Ledger,
    raw: bytes,
    key: str,
) -> None:
    project, commitment = loan

    response = client.post(
        f"/v1/projects/{project}/commitments/{commitment}/disbursements",
        content=raw,
        headers={"Authorization": tokens["admin"], "Content-Type": "application/json"},
    )

    body = problem(response, 400)
    assert repr(key) in body["detail"]
    assert api_ledger.head_position() == head


@pytest.mark.parametrize(
    "params",
    [
        {"to": "0"},
        {"from": "0"},
        {"to": "1700000000"},
        {"from": "２０２４-01-01"},
        {"to": "2024-1-1"},
        {"to": "2024-01-01T00:00:00"},
    ],
)
def test_a_totals_date_not_written_yyyy_mm_dd_is_422_naming_it(
    client: TestClient, tokens: dict[str, str], params: dict[str, str]
) -> None:
    response = client.get("/v1/totals", params=params, headers={"Authorization": tokens["viewer"]})

    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["query", next(iter(params))]


def test_a_totals_date_written_yyyy_mm_dd_is_accepted(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.get(
        "/v1/totals",
        params={"from": "2024-01-01", "to": "2024-12-31"},
        headers={"Authorization": tokens["viewer"]},
    )

    assert response.status_code == 200, response.text
