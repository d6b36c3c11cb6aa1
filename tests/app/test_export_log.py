"""The log's exports: NDJSON round trip into an empty store (same positions, leaves, root
hash and totals), refusal of altered files, and the CSV for a spreadsheet."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.audit_keys import generate_key, load_keyring
from api.exports.log import Snapshot, csv_chunks, ndjson_chunks
from api.exports.log_import import LogImportError, import_log
from api.settings import Settings
from api.tokens import create_token
from domain.application import Ledger
from domain.commands import (
    CancelCommitment,
    CorrectCommitmentAmount,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    RecordRepayment,
)
from domain.tokens import Role
from domain.values import Actor
from eventstore import merkle
from eventstore.restore import StoreNotEmptyError
from eventstore.settings import library_env
from eventstore.tree import log_tree
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.rebuild import rebuild
from projections.sql import Dialect
from tests.projections.conftest import drop_reporting_schema, reporting_schema_for

HDF = Actor(name="dr-hdf", directorate="hauts_de_france", correlation_id="c-1")
GROUPINGS = ["", "theme", "region,instrument", "directorate,year"]


@dataclass
class Store:
    """A ledger and its read models on one store, and the token of its admin."""

    url: str
    schema: str
    ledger: Ledger
    read_models: ReadModelDatabase

    def totals(self, token: str) -> list[dict[str, Any]]:
        settings = Settings(database_url=self.url, reporting_schema=self.schema)
        app = create_app(settings, self.ledger, self.read_models)
        with TestClient(app) as client:
            answers = [
                client.get(
                    "/v1/totals",
                    params={"group_by": grouping},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for grouping in GROUPINGS
            ]
        assert all(a.status_code == 200 for a in answers)
        return [{k: v for k, v in a.json().items() if k != "position"} for a in answers]


StoreFactory = Callable[[str], Store]


@pytest.fixture
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens empty stores of a kind (sqlite, postgres); closes and drops them afterwards."""
    opened: list[Store] = []

    def open_store(kind: str) -> Store:
        if kind == "sqlite":
            url, schema = f"sqlite:///{tmp_path / f'ledger-{len(opened)}.sqlite3'}", "reporting"
        else:
            url = request.getfixturevalue("postgres_url")
            if any(s.url == url for s in opened):  # a second PostgreSQL store: its own schema
                url = _another_schema(url, len(opened))
            schema = reporting_schema_for(url)
        store = Store(
            url, schema, Ledger(env=library_env(url)), ReadModelDatabase.from_url(url, schema)
        )
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.read_models.close()
        store.ledger.close()
        if store.read_models.dialect is Dialect.POSTGRES:
            drop_reporting_schema(store.url, store.schema)
            base, _, query = store.url.partition("?")
            events_schema = query.partition("schema=")[2]
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{events_schema}" CASCADE')


def _another_schema(url: str, n: int) -> str:
    base, _, query = url.partition("?")
    schema = f"{query.partition('schema=')[2]}_{n}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{base}?schema={schema}"


def _history(store: Store) -> str:
    """Projects, money moved and corrected, a token; on PostgreSQL with a gap in positions.
    Returns the admin token."""
    ledger = store.ledger
    token, _ = create_token(ledger, name="admin", role=Role.ADMIN)
    for n in range(3):
        project = ledger.execute(
            HDF,
            IdentifyProject(
                name=f'=HYPERLINK("x") Tramway {n}',
                territory="commune:59650",
                theme="mobility",
                directorate="hauts_de_france",
                identified_on=date(2024, 1, 2),
            ),
        ).id
        loan = ledger.execute(
            HDF,
            GrantLoan(
                project_id=project,
                amount="1000000.50",
                granted_on=date(2024, 3, 1),
                duration_months=60,
            ),
        ).commitment_id
        assert loan is not None
        if store.read_models.dialect is Dialect.POSTGRES:
            _consume_positions(store, 3)
        ledger.execute(
            HDF,
            Disburse(
                project_id=project,
                commitment_id=loan,
                amount="400000",
                disbursed_on=date(2024, 4, 1),
            ),
        )
        ledger.execute(
            HDF,
            RecordRepayment(
                project_id=project, commitment_id=loan, principal="1000", repaid_on=date(2024, 6, 1)
            ),
        )
        ledger.execute(
            HDF,
            CancelCommitment(
                project_id=project,
                commitment_id=loan,
                amount="100",
                cancelled_on=date(2024, 7, 1),
                reason="écart",
            ),
        )
        ledger.execute(
            HDF,
            CorrectCommitmentAmount(
                project_id=project,
                commitment_id=loan,
                amount="900000",
                reason="=1+2 erreur de saisie",
            ),
        )
        ledger.execute(
            HDF, InvestEquity(project_id=project, amount="250000", invested_on=date(2024, 5, 1))
        )
    catch_up(ledger, store.read_models)
    return token


def _consume_positions(store: Store, count: int) -> None:
    # As a rolled-back transaction does: positions taken and never used.
    recorder: Any = store.ledger.recorder
    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    with psycopg.connect(store.url.partition("?")[0], autocommit=True) as conn:
        for _ in range(count):
            conn.execute("SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))", (table,))


def _export(store: Store, ring: Any = None) -> bytes:
    return b"".join(ndjson_chunks(store.ledger, Snapshot.now(store.ledger), ring))


def _lines(export: bytes) -> list[bytes]:
    return export.splitlines(keepends=True)


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("target", KINDS)
@pytest.mark.parametrize("source", KINDS)
def test_an_ndjson_export_loads_into_an_empty_store_with_the_same_log_root_and_totals(
    stores: StoreFactory, source: str, target: str
) -> None:
    original = stores(source)
    token = _history(original)
    export = _export(original)
    restored = stores(target)

    imported = import_log(restored.ledger, _lines(export))
    rebuild(restored.ledger, restored.read_models)

    before = list(original.ledger.recorder.select_notifications(start=1, limit=1000))
    after = list(restored.ledger.recorder.select_notifications(start=1, limit=1000))
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in after] == [
        (n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in before
    ]
    source_tree, target_tree = (
        log_tree(original.ledger.recorder),
        log_tree(restored.ledger.recorder),
    )
    assert target_tree.size() == source_tree.size() == imported.tree_size == len(before)
    assert target_tree.root() == source_tree.root()
    assert imported.root_hash == source_tree.root().hex()
    assert restored.totals(token) == original.totals(token)


@pytest.mark.parametrize("target", KINDS)
def test_the_restored_store_takes_new_writes_after_the_last_position(
    stores: StoreFactory, target: str
) -> None:
    original = stores("sqlite")
    _history(original)
    restored = stores(target)
    import_log(restored.ledger, _lines(_export(original)))

    written = restored.ledger.execute(
        HDF,
        IdentifyProject(
            name="Après",
            territory="commune:59650",
            theme="mobility",
            directorate="hauts_de_france",
            identified_on=date(2024, 1, 2),
        ),
    )

    assert written.position == original.ledger.head_position() + 1
    tree = log_tree(restored.ledger.recorder)
    assert tree.size() == log_tree(original.ledger.recorder).size() + 1


def test_the_last_line_is_the_tree_head_signed_when_a_key_is_configured(
    stores: StoreFactory, tmp_path: Path
) -> None:
    original = stores("sqlite")
    _history(original)
    generate_key(tmp_path / "key.pem")
    ring = load_keyring(tmp_path / "key.pem")

    head = json.loads(_lines(_export(original, ring))[-1])
    unsigned = json.loads(_lines(_export(original, None))[-1])

    tree = log_tree(original.ledger.recorder)
    assert (head["tree_size"], head["root_hash"]) == (tree.size(), tree.root().hex())
    assert head["key_id"] == ring.current_id
    assert unsigned["signature"] is None
    assert "unsigned" in unsigned["unsigned"]


def test_each_line_alone_recomputes_its_leaf_hash(stores: StoreFactory) -> None:
    original = stores("sqlite")
    _history(original)

    events = [json.loads(line) for line in _lines(_export(original))[:-1]]

    for line in events:
        state = base64.b64decode(line["state"])
        recomputed = merkle.leaf_hash(
            line["position"], UUID(line["aggregate_id"]), line["version"], line["topic"], state
        )
        assert recomputed.hex() == line["leaf_hash"]
    assert [line["leaf_index"] for line in events] == list(range(len(events)))


def _altered(export: bytes, number: int, change: Callable[[dict[str, Any]], None]) -> list[bytes]:
    lines = _lines(export)
    line = json.loads(lines[number - 1])
    change(line)
    lines[number - 1] = json.dumps(line, ensure_ascii=False).encode() + b"\n"
    return lines


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda line: line.__setitem__(key, value)


def _edit_state(line: dict[str, Any]) -> None:
    state = base64.b64decode(line["state"]).replace(b"1000000.50", b"9000000.50")
    line["state"] = base64.b64encode(state).decode()


def _edit_state_and_hash(line: dict[str, Any]) -> None:
    # A forger who rewrites the bytes, the readable data and the leaf hash consistently:
    # only the tree head's root tells.
    _edit_state(line)
    _edit_data(line)
    state = base64.b64decode(line["state"])
    line["leaf_hash"] = merkle.leaf_hash(
        line["position"], UUID(line["aggregate_id"]), line["version"], line["topic"], state
    ).hex()


def _edit_data(line: dict[str, Any]) -> None:
    line["data"]["amount"] = "9000000.50"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (_edit_state, "does not match its leaf hash"),
        (_edit_state_and_hash, "root hash"),
        (_edit_data, "data altered"),
        (_set("actor", "someone-else"), "actor altered"),
        (_set("position", 1), "does not follow"),
    ],
)
def test_a_file_with_an_altered_line_is_refused_naming_it_and_nothing_is_stored(
    stores: StoreFactory, change: Callable[[dict[str, Any]], None], says: str
) -> None:
    original = stores("sqlite")
    _history(original)
    export = _export(original)
    loan_line = next(
        n for n, line in enumerate(_lines(export), start=1) if b'"LoanGranted"' in line
    )
    restored = stores("sqlite")

    with pytest.raises(LogImportError) as refused:
        import_log(restored.ledger, _altered(export, loan_line, change))

    assert says in str(refused.value)
    if "root hash" not in says:
        assert refused.value.line == loan_line
    assert restored.ledger.head_position() == 0
    assert log_tree(restored.ledger.recorder).size() == 0


def test_a_file_cut_short_or_with_a_line_removed_is_refused(stores: StoreFactory) -> None:
    original = stores("sqlite")
    _history(original)
    lines = _lines(_export(original))
    restored = stores("sqlite")

    with pytest.raises(LogImportError, match="without its tree head"):
        import_log(restored.ledger, lines[:-1])
    with pytest.raises(LogImportError, match="leaf_index"):
        import_log(restored.ledger, lines[:3] + lines[4:])
    assert restored.ledger.head_position() == 0


def test_a_store_holding_events_is_refused(stores: StoreFactory) -> None:
    original = stores("sqlite")
    _history(original)

    with pytest.raises(StoreNotEmptyError):
        import_log(original.ledger, _lines(_export(original)))


def _csv_rows(store: Store, sep: str) -> tuple[bytes, list[dict[str, str]]]:
    raw = b"".join(csv_chunks(store.ledger, Snapshot.now(store.ledger), sep))
    text = raw.decode("utf-8-sig")
    return raw, list(csv.DictReader(io.StringIO(text), delimiter=sep))


def test_the_csv_has_a_row_per_event_with_its_leaf_and_filterable_columns(
    stores: StoreFactory,
) -> None:
    original = stores("sqlite")
    _history(original)

    raw, rows = _csv_rows(original, ",")

    assert not raw.startswith(b"\xef\xbb\xbf")
    tree = log_tree(original.ledger.recorder)
    assert len(rows) == tree.size()
    loans = [r for r in rows if r["type"] == "LoanGranted"]
    assert [r["amount"] for r in loans] == ["1000000.50"] * 3
    assert {r["effective_date"] for r in loans} == {"2024-03-01"}
    assert {r["actor"] for r in loans} == {"dr-hdf"}
    leaf = tree.leaf(int(loans[0]["position"]))
    assert leaf is not None
    assert loans[0]["leaf_hash"] == leaf.hash.hex()


def test_the_french_csv_has_a_bom_semicolons_decimal_commas_and_no_formula(
    stores: StoreFactory,
) -> None:
    original = stores("sqlite")
    _history(original)

    raw, rows = _csv_rows(original, ";")

    assert raw.startswith(b"\xef\xbb\xbf")
    repaid = [r for r in rows if r["type"] == "LoanRepaid"]
    assert {r["amount"] for r in repaid} == {"1000,00"}
    identified = [r for r in rows if r["type"] == "ProjectIdentified"]
    assert all(json.loads(r["data"])["name"].startswith("=HYPERLINK") for r in identified)
    assert all(not cell.startswith("=") for r in rows for cell in r.values())
    corrected = [r for r in rows if r["type"] == "CommitmentAmountCorrected"]
    assert {r["reason"] for r in corrected} == {"'=1+2 erreur de saisie"}
    cancelled = next(r for r in rows if r["type"] == "CommitmentCancelled")
    assert cancelled["reason"] == "écart"
