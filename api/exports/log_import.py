"""`funding import-log`: an NDJSON export loaded into an empty store, every line checked.

Each event line must recompute its own leaf hash from its position, aggregate id, version,
topic and stored bytes, and read, field for field, as its stored bytes decode (so a line
whose readable `data` was edited is refused as surely as one whose bytes were); leaf
indices run 0, 1, 2… and positions increase. The last line, the tree head, must have the
tree size and root hash of the loaded leaves (and, when signed by a key this installation
knows, a valid signature). A refusal names the line; nothing is then stored: the store
is loaded in one transaction (`eventstore.restore`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from api.audit_keys import HeadRefusedError, KeyRing, SignedTreeHead
from api.exports.log import EXPORT_PAGE, line_of
from domain.application import Ledger
from eventstore import merkle
from eventstore.leaves import Growth, Leaf
from eventstore.restore import Page, restore
from eventstore.tree import log_tree

Progress = Callable[[int], None]


class LogImportError(ValueError):
    """A file that is not an intact export of a log; `line` names where (None: as a whole)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


@dataclass(frozen=True)
class Imported:
    """What an import loaded: events, up to which position, the tree head it checked."""

    events: int
    head_position: int
    tree_size: int
    root_hash: str
    signed: bool
    signature_checked: bool


class _Reader:
    """Reads and checks an export's lines, a page of events at a time."""

    def __init__(self, ledger: Ledger, lines: Iterable[bytes], ring: KeyRing | None) -> None:
        self.ledger = ledger
        self.lines = lines
        self.ring = ring
        self.growth = Growth(0, {}, [])
        self.count = 0
        self.position = 0
        self.head: dict[str, Any] | None = None
        self.head_line = 0
        self.signature_checked = False

    def pages(self, progress: Progress | None) -> Iterator[Page]:
        page: list[tuple[int, StoredEvent]] = []
        for number, raw in enumerate(self.lines, start=1):
            if not raw.strip():
                continue
            if self.head is not None:
                raise LogImportError(number, "a line follows the tree head, which must be last")
            line = _json(number, raw)
            if "position" not in line:
                self.head, self.head_line = line, number
                continue
            page.append(self._event(number, line))
            if len(page) == EXPORT_PAGE:
                yield page
                page = []
                if progress is not None:
                    progress(self.count)
        if page:
            yield page
        self._check_head()
        if progress is not None:
            progress(self.count)

    def _event(self, number: int, line: dict[str, Any]) -> tuple[int, StoredEvent]:
        try:
            position, leaf_index = int(line["position"]), int(line["leaf_index"])
            aggregate_id = UUID(str(line["aggregate_id"]))
            version, topic = int(line["version"]), str(line["topic"])
            state = base64.b64decode(str(line["state"]), validate=True)
            leaf_hash = bytes.fromhex(str(line["leaf_hash"]))
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise LogImportError(number, f"not an event line of an export ({error})") from None
        if position <= self.position:
            raise LogImportError(number, f"position {position} does not follow {self.position}")
        if leaf_index != self.count:
            raise LogImportError(number, f"leaf_index {leaf_index} where {self.count} comes next")
        if merkle.leaf_hash(position, aggregate_id, version, topic, state) != leaf_hash:
            raise LogImportError(
                number,
                f"the event at position {position} does not match its leaf hash: its position, "
                "aggregate id, version, topic or stored bytes were altered",
            )
        notification = Notification(
            id=position,
            originator_id=aggregate_id,
            originator_version=version,
            topic=topic,
            state=state,
        )
        try:
            expected = line_of(self.ledger, notification, Leaf(leaf_index, position, leaf_hash))
        except Exception as error:  # the stored bytes themselves cannot be decoded
            raise LogImportError(
                number, f"the stored bytes at position {position} cannot be decoded: {error}"
            ) from None
        if differing := sorted(
            k for k in expected.keys() | line.keys() if expected.get(k) != line.get(k)
        ):
            raise LogImportError(
                number,
                f"the event at position {position} reads otherwise than its stored bytes: "
                f"{', '.join(differing)} altered",
            )
        self.growth.append(leaf_hash)
        self.growth.new_nodes = []
        self.count += 1
        self.position = position
        return position, StoredEvent(aggregate_id, version, topic, state)

    def _check_head(self) -> None:
        head = self.head
        if head is None:
            raise LogImportError(None, "the file ends without its tree head: it was cut short")
        number = self.head_line
        if head.get("tree_size") != self.count:
            raise LogImportError(
                number,
                f"the tree head says {head.get('tree_size')} events, the file holds {self.count}",
            )
        root = merkle.EMPTY_ROOT if self.count == 0 else self.growth.root()
        if head.get("root_hash") != root.hex():
            raise LogImportError(
                number,
                "the tree head's root hash is not that of the file's events: events were "
                "altered, added or removed",
            )
        if head.get("signature") is None:
            return
        try:
            signed = SignedTreeHead.from_dict(head)
        except HeadRefusedError as error:
            raise LogImportError(number, f"the tree head is malformed: {error}") from None
        if self.ring is not None and signed.key_id in self.ring.public:
            try:
                self.ring.verify(signed)
            except HeadRefusedError as error:
                raise LogImportError(number, f"the tree head is refused: {error}") from None
            self.signature_checked = True


def import_log(
    ledger: Ledger,
    lines: Iterable[bytes],
    ring: KeyRing | None = None,
    progress: Progress | None = None,
) -> Imported:
    """Load an NDJSON export into the ledger's empty store; LogImportError naming the line.

    The signature of a signed head is checked when `ring` knows its key
    (`signature_checked`); its root hash and size are always checked.
    """
    reader = _Reader(ledger, lines, ring)
    restore(ledger.recorder, reader.pages(progress))
    head = reader.head or {}
    size = log_tree(ledger.recorder).size()
    root = log_tree(ledger.recorder).root(size)
    if size != reader.count or root.hex() != head.get("root_hash"):
        raise LogImportError(None, "the store's tree after the import differs from the export's")
    return Imported(
        events=reader.count,
        head_position=reader.position,
        tree_size=size,
        root_hash=root.hex(),
        signed=head.get("signature") is not None,
        signature_checked=reader.signature_checked,
    )


def _json(number: int, raw: bytes) -> dict[str, Any]:
    try:
        line = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise LogImportError(number, "not JSON") from None
    if not isinstance(line, dict):
        raise LogImportError(number, "not a JSON object")
    return line
