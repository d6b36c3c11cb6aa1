"""What the tests of the IATI and SCDL exports share: a publisher, ledgers, the ledger's figures."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from lxml import etree

from api.exports.iati import iati_chunks
from api.exports.publisher import Publisher
from demo import load_demo
from domain.application import Ledger
from domain.commands import IdentifyProject
from domain.commitments import Commitment
from domain.project import Project
from domain.reference import Instrument
from domain.values import Actor
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.totals.queries import totals

FIXTURES = Path(__file__).parents[1] / "fixtures"
SCHEMA_FILE = FIXTURES / "iati-2.03" / "iati-activities-schema.xsd"
OLDER_STORES = ["store-2026-11.sqlite3", "store-2026-12.sqlite3"]
PUBLISHER = Publisher(
    name="Banque d'essai", siret="12345678900011", iati_ref="FR-RCS-123456789", iati_type="15"
)
ACTOR = Actor("tester")
WALLERS = "commune:59632"
# (transaction type, finance type) → the ledger figure it sums to, per instrument.
FIGURES = {
    ("2", "421"): ("loan", "net_committed"),
    ("3", "421"): ("loan", "disbursed"),
    ("6", "421"): ("loan", "repaid"),
    ("2", "510"): ("equity", "net_committed"),
    ("8", "510"): ("equity", "disbursed"),
    ("2", "110"): ("study", "net_committed"),
    ("3", "110"): ("study", "disbursed"),
}


def demo_ledger() -> Ledger:
    """A ledger on an in-memory store holding the demo data."""
    ledger = Ledger(env=library_env("memory://"))
    load_demo(ledger, lambda _done, _total: None)
    return ledger


@contextmanager
def older_store(name: str, tmp_path: Path) -> Iterator[Ledger]:
    """A ledger on a copy of a store written by older code."""
    copy = tmp_path / name
    shutil.copy(FIXTURES / name, copy)
    ledger = Ledger(env=library_env(f"sqlite:///{copy}"))
    try:
        yield ledger
    finally:
        ledger.close()


def identify(ledger: Ledger, name: str, territory: str = WALLERS, **fields: Any) -> UUID:
    """Identify a project (in Wallers, Hauts-de-France, mobility, unless told otherwise)."""
    written = ledger.execute(
        ACTOR,
        IdentifyProject(
            name=name,
            territory=territory,
            theme=fields.pop("theme", "mobility"),
            directorate=fields.pop("directorate", "hauts_de_france"),
            identified_on=date(2024, 1, 10),
            **fields,
        ),
    )
    return written.id


def iati_export(ledger: Ledger, **options: Any) -> etree._Element:
    """The IATI export, parsed."""
    return etree.fromstring(b"".join(iati_chunks(ledger, publisher=PUBLISHER, **options)))


def iati_sums(document: etree._Element) -> dict[tuple[str, str], Decimal]:
    """Σ transaction values per (transaction type, finance type), the non-zero ones."""
    found: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for transaction in document.iter("transaction"):
        kind = transaction.find("transaction-type")
        finance = transaction.find("finance-type")
        value = transaction.find("value")
        assert kind is not None
        assert finance is not None
        assert value is not None
        found[kind.get("code", ""), finance.get("code", "")] += Decimal(value.text or "")
    return {key: total for key, total in found.items() if total != 0}


def commitments(ledger: Ledger) -> Iterator[Commitment]:
    """Every commitment of every project, read from the aggregates themselves."""
    for aggregate_id in ledger.iter_aggregate_ids():
        project: Aggregate = ledger.repository.get(aggregate_id)
        if isinstance(project, Project):
            yield from project.commitments.values()


def instrument_totals(ledger: Ledger) -> dict[str, dict[str, Any]]:
    """The ledger's own figures per instrument, from the totals read model."""
    db = ReadModelDatabase.from_url("memory://")
    try:
        catch_up(ledger, db)
        rows = totals(db, ["instrument"]).rows
    finally:
        db.close()
    return {str(row["instrument"]): row for row in rows}


def read_model_figures(ledger: Ledger) -> dict[tuple[str, str], Decimal]:
    """The figures IATI sums to, non-zero, from the totals read model."""
    rows = instrument_totals(ledger)
    return {
        key: Decimal(rows[instrument][figure])
        for key, (instrument, figure) in FIGURES.items()
        if instrument in rows and rows[instrument][figure] != 0
    }


def aggregate_figures(ledger: Ledger) -> dict[tuple[str, str], Decimal]:
    """The same figures summed from the project aggregates."""
    found: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for commitment in commitments(ledger):
        for key, (instrument, figure) in FIGURES.items():
            if commitment.instrument.value == instrument:
                found[key] += getattr(commitment, figure)
    return {key: value for key, value in found.items() if value != 0}


def studies_committed(ledger: Ledger) -> tuple[Decimal, int]:
    """Σ committed (after corrections) of the studies, and their number, from the aggregates."""
    studies = [c for c in commitments(ledger) if c.instrument is Instrument.STUDY]
    return sum((c.amount for c in studies), Decimal(0)), len(studies)


def only(document: etree._Element, path: str) -> etree._Element:
    found = document.findall(path)
    assert len(found) == 1, f"{len(found)} elements at {path}"
    return found[0]


def attributes(element: etree._Element) -> dict[str, str]:
    return {str(k): str(v) for k, v in element.attrib.items()}
