"""The log's NDJSON export: round trip into an empty store (same positions, leaves, root
hash and totals) and refusal of altered files."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.audit_keys import generate_key, load_keyring
from api.audit_log import log_event
from api.exports.log_import import LogImportError, import_log
from domain.commands import IdentifyProject
from eventstore import merkle
from eventstore.restore import StoreNotEmptyError
from eventstore.tree import log_tree
from projections.rebuild import rebuild
from tests.app.log_stores import (
    HDF,
    KINDS,
    StoreFactory,
    export_ndjson,
    history,
    lines_of,
    open_stores,
)


@pytest.fixture
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens empty stores of a kind (sqlite, postgres); closes and drops them afterwards."""
    yield from open_stores(request, tmp_path)


@pytest.mark.parametrize("target", KINDS)
@pytest.mark.parametrize("source", KINDS)
def test_an_ndjson_export_loads_into_an_empty_store_with_the_same_log_root_and_totals(
    stores: StoreFactory, source: str, target: str
) -> None:
    original = stores(source)
    token = history(original)
    export = export_ndjson(original)
    restored = stores(target)

    imported = import_log(restored.ledger, lines_of(export))
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
    history(original)
    restored = stores(target)
    import_log(restored.ledger, lines_of(export_ndjson(original)))

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
    history(original)
    generate_key(tmp_path / "key.pem")
    ring = load_keyring(tmp_path / "key.pem")

    head = json.loads(lines_of(export_ndjson(original, ring))[-1])
    unsigned = json.loads(lines_of(export_ndjson(original, None))[-1])

    tree = log_tree(original.ledger.recorder)
    assert (head["tree_size"], head["root_hash"]) == (tree.size(), tree.root().hex())
    assert head["key_id"] == ring.current_id
    assert unsigned["signature"] is None
    assert "unsigned" in unsigned["unsigned"]


def test_each_line_alone_recomputes_its_leaf_hash(stores: StoreFactory) -> None:
    original = stores("sqlite")
    history(original)

    events = [json.loads(line) for line in lines_of(export_ndjson(original))[:-1]]

    for line in events:
        state = base64.b64decode(line["state"])
        recomputed = merkle.leaf_hash(
            line["position"], UUID(line["aggregate_id"]), line["version"], line["topic"], state
        )
        assert recomputed.hex() == line["leaf_hash"]
    assert [line["leaf_index"] for line in events] == list(range(len(events)))


def _altered(export: bytes, number: int, change: Callable[[dict[str, Any]], None]) -> list[bytes]:
    lines = lines_of(export)
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
    history(original)
    export = export_ndjson(original)
    loan_line = next(
        n for n, line in enumerate(lines_of(export), start=1) if b'"LoanGranted"' in line
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
    history(original)
    lines = lines_of(export_ndjson(original))
    restored = stores("sqlite")

    with pytest.raises(LogImportError, match="without its tree head"):
        import_log(restored.ledger, lines[:-1])
    with pytest.raises(LogImportError, match="leaf_index"):
        import_log(restored.ledger, lines[:3] + lines[4:])
    assert restored.ledger.head_position() == 0


def test_a_store_holding_events_is_refused(stores: StoreFactory) -> None:
    original = stores("sqlite")
    history(original)

    with pytest.raises(StoreNotEmptyError):
        import_log(original.ledger, lines_of(export_ndjson(original)))


def test_an_ndjson_line_holds_what_the_audit_log_answers_for_its_event(
    stores: StoreFactory,
) -> None:
    original = stores("sqlite")
    history(original)
    ledger = original.ledger
    notifications = list(ledger.recorder.select_notifications(start=1, limit=1000))
    tree = log_tree(ledger.recorder)

    lines = [json.loads(line) for line in lines_of(export_ndjson(original))[:-1]]

    answered = [
        log_event(ledger, n, tree.leaf(n.id)).model_dump(mode="json") for n in notifications
    ]
    assert [{k: v for k, v in line.items() if k not in ("topic", "state")} for line in lines] == (
        answered
    )
