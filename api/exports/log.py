"""The whole log exported: NDJSON (restorable, verifiable) and CSV (for a spreadsheet).

Both read the log a page at a time up to the head they started at, so memory stays the same
whatever the log's size. NDJSON has one line per event with its leaf and its stored bytes
(base64: the line alone recomputes the leaf hash), then one last line, the tree head the
export ends at (signed when a signing key is configured); `funding import-log` loads it
into an empty store. CSV flattens each event into a row a spreadsheet filters on.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Notification
from pydantic_core import to_jsonable_python

from api.audit_keys import KeyRing
from api.audit_log import aggregate_type_of, shown_data
from api.csv_rows import looks_like_formula
from api.exports.streams import buffered
from domain.application import Ledger
from eventstore.leaves import Leaf
from eventstore.tree import log_tree

Progress = Callable[[int, int], None]
# Events read from the store at a time.
EXPORT_PAGE = 1000
UNSIGNED = "no tree-head signing key is configured (FUNDING_AUDIT_KEY_FILE): this head is unsigned"
# The CSV's columns: the event's place and envelope, then what a spreadsheet filters on
# most (read from the event's fields), then all its fields as JSON.
CSV_COLUMNS = (
    "position",
    "leaf_index",
    "recorded_at",
    "actor",
    "directorate",
    "type",
    "aggregate_type",
    "aggregate_id",
    "version",
    "commitment_id",
    "amount",
    "effective_date",
    "reason",
    "data",
    "leaf_hash",
)
# Fields holding an event's sum of money, and its effective date, by precedence.
AMOUNT_FIELDS = ("amount", "principal")
DATE_FIELDS = (
    "granted_on",
    "invested_on",
    "launched_on",
    "delivered_on",
    "disbursed_on",
    "repaid_on",
    "cancelled_on",
    "identified_on",
    "signed_on",
    "due_on",
    "measured_on",
    "on",
)


class ExportError(RuntimeError):
    """The log cannot be exported as it is stored (a leaf missing from its tree)."""


@dataclass(frozen=True)
class Snapshot:
    """What an export covers: the events up to `head_position`, the tree of `tree_size`."""

    head_position: int
    tree_size: int
    root_hash: bytes

    @classmethod
    def now(cls, ledger: Ledger) -> Snapshot:
        """The log as it stands: commits are in position order, so no event will appear
        at or below the head read here."""
        head = ledger.head_position()
        tree = log_tree(ledger.recorder)
        size = tree.size_at(head)
        return cls(head, size, tree.root(size))

    def head(self, ring: KeyRing | None) -> dict[str, Any]:
        """The tree head the export ends at: signed by the ring's key, else marked unsigned."""
        if ring is not None and ring.signer is not None:
            return ring.sign(self.tree_size, self.root_hash).as_dict()
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": time.time_ns() // 1_000_000,
            "signature": None,
            "key_id": None,
            "unsigned": UNSIGNED,
        }


def line_of(ledger: Ledger, notification: Notification, leaf: Leaf | None) -> dict[str, Any]:
    """An event's NDJSON line (as JSON values): the audit log's fields, its topic and its
    stored bytes in base64. Built without a response model (a third of the export's time),
    its values are serialised as the audit log's answers are (pydantic's JSON forms)."""
    event: Any = ledger.mapper.to_domain_event(notification)
    meta = dict(getattr(event, "meta", {}))
    topic = notification.topic
    return {
        "position": notification.id,
        "leaf_index": None if leaf is None else leaf.leaf_index,
        "leaf_hash": None if leaf is None else leaf.hash.hex(),
        "aggregate_id": str(notification.originator_id),
        "aggregate_type": aggregate_type_of(topic),
        "version": notification.originator_version,
        "type": type(event).__name__,
        "recorded_at": to_jsonable_python(event.timestamp),
        "actor": meta.get("actor") or None,
        "directorate": meta.get("directorate") or None,
        "correlation_id": meta.get("correlation_id") or None,
        "topic": topic,
        "data": to_jsonable_python(shown_data(event)),
        "state": base64.b64encode(notification.state).decode("ascii"),
    }


def pages(
    ledger: Ledger, snapshot: Snapshot, progress: Progress | None = None
) -> Iterator[list[tuple[Notification, Leaf]]]:
    """The events up to the snapshot's head with their leaves, a page at a time."""
    tree = log_tree(ledger.recorder)
    after, done = 0, 0
    while after < snapshot.head_position:
        page = list(
            ledger.recorder.select_notifications(
                start=after + 1, limit=EXPORT_PAGE, stop=snapshot.head_position
            )
        )
        if not page:
            break
        found = {
            leaf.position: leaf for leaf in tree.store.leaves_at_positions({n.id for n in page})
        }
        paired = []
        for notification in page:
            leaf = found.get(notification.id)
            if leaf is None or leaf.leaf_index != done:
                raise ExportError(
                    f"the event at position {notification.id} has no leaf {done} in the "
                    "log's tree: run `funding verify`"
                )
            paired.append((notification, leaf))
            done += 1
        yield paired
        after = page[-1].id
        if progress is not None:
            progress(done, snapshot.tree_size)
    if done != snapshot.tree_size:
        raise ExportError(
            f"the log holds {done} events up to position {snapshot.head_position} but its "
            f"tree {snapshot.tree_size} leaves: run `funding verify`"
        )


def ndjson_chunks(
    ledger: Ledger,
    snapshot: Snapshot,
    ring: KeyRing | None,
    progress: Progress | None = None,
) -> Iterator[bytes]:
    """The NDJSON export, in chunks of UTF-8 bytes: an event per line, the head last."""
    head = snapshot.head(ring)  # signed before the first line: a missing key fails first

    def parts() -> Iterator[bytes]:
        for page in pages(ledger, snapshot, progress):
            for notification, leaf in page:
                yield dumps(line_of(ledger, notification, leaf))
        yield dumps(head)

    return buffered(parts())


def dumps(line: dict[str, Any]) -> bytes:
    """One NDJSON line, newline included."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def csv_chunks(
    ledger: Ledger, snapshot: Snapshot, sep: str = ",", progress: Progress | None = None
) -> Iterator[bytes]:
    """The CSV export, in chunks: a header, then a row per event. With `sep=";"` (a French
    spreadsheet) amounts have a decimal comma and the file starts with a UTF-8 BOM."""

    def parts() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n")
        if sep == ";":
            buffer.write("\ufeff")
        writer.writerow(CSV_COLUMNS)
        for page in pages(ledger, snapshot, progress):
            for notification, leaf in page:
                writer.writerow(csv_row(line_of(ledger, notification, leaf), sep))
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue().encode()

    return buffered(parts())


def csv_row(line: dict[str, Any], sep: str) -> list[str]:
    """An event's CSV cells, from its NDJSON line."""
    data: dict[str, Any] = line["data"]
    amount = next((data[f] for f in AMOUNT_FIELDS if data.get(f) is not None), None)
    values = {
        **line,
        "commitment_id": data.get("commitment_id"),
        "amount": None if amount is None else _money(str(amount), sep),
        "effective_date": next((data[f] for f in DATE_FIELDS if data.get(f)), None),
        "reason": data.get("reason"),
        "data": json.dumps(data, ensure_ascii=False) if data else "",
    }
    return [_cell(values.get(column)) for column in CSV_COLUMNS]


def _money(text: str, sep: str) -> str:
    # A French spreadsheet reads `;`-separated files with decimal commas.
    value = f"{Decimal(text):.2f}"
    return value.replace(".", ",") if sep == ";" else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # Text a writer typed must never run as a formula in a spreadsheet.
    return f"'{text}" if looks_like_formula(text) else text
