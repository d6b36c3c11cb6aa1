"""The IATI 2.03 export of the demo and of older stores: valid, one activity per project, sums."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from api.exports.iati import iati_chunks
from domain.application import Ledger
from domain.project import Project
from tests.app.standard_exports import (
    FIGURES,
    OLDER_STORES,
    PUBLISHER,
    SCHEMA_FILE,
    aggregate_figures,
    demo_ledger,
    iati_export,
    iati_sums,
    older_store,
    read_model_figures,
)


@pytest.fixture(scope="module")
def demo() -> Iterator[Ledger]:
    """The demo data, loaded once for the module."""
    ledger = demo_ledger()
    yield ledger
    ledger.close()


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """The IATI 2.03 activity schema (it includes iati-common.xsd and imports xml.xsd)."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_FILE)))


def test_the_demo_export_is_valid_iati_2_03(demo: Ledger, schema: etree.XMLSchema) -> None:
    document = iati_export(demo)

    assert schema.validate(document), schema.error_log
    assert document.get("version") == "2.03"


def test_the_demo_export_has_one_activity_per_project(demo: Ledger) -> None:
    document = iati_export(demo)
    projects = [i for i in demo.iter_aggregate_ids() if isinstance(demo.repository.get(i), Project)]

    identifiers = [e.text for e in document.iter("iati-identifier")]
    assert len(identifiers) == len(projects) == 480
    assert set(identifiers) == {f"FR-RCS-123456789-{p}" for p in projects}


def test_the_demo_export_sums_equal_the_ledger_s_totals(demo: Ledger) -> None:
    exported = iati_sums(iati_export(demo))
    from_read_model = read_model_figures(demo)

    assert exported == from_read_model
    assert exported == aggregate_figures(demo)
    # Every kind of transaction is there: the check is not vacuous.
    assert all(exported[key] > 0 for key in FIGURES)


def test_the_demo_export_reports_progress_along_the_log(demo: Ledger) -> None:
    reports: list[tuple[int, int]] = []
    head = demo.head_position()

    iati_export(demo, progress=lambda done, total: reports.append((done, total)))

    assert reports[-1] == (head, head)
    assert len(reports) == 481  # once per project, and once at the end
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_the_export_is_streamed_one_project_at_a_time(demo: Ledger) -> None:
    reports: list[tuple[int, int]] = []
    chunks = iati_chunks(
        demo, publisher=PUBLISHER, progress=lambda done, total: reports.append((done, total))
    )

    first = next(chunks)

    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    # The first chunk left before the log was read through.
    assert reports
    assert reports[-1][0] < demo.head_position() // 2


@pytest.mark.parametrize("store", OLDER_STORES)
def test_a_store_written_by_older_code_exports(
    store: str, tmp_path: Path, schema: etree.XMLSchema
) -> None:
    with older_store(store, tmp_path) as older:
        document = iati_export(older)
        figures = aggregate_figures(older)

    assert schema.validate(document), schema.error_log
    assert len(document.findall("iati-activity")) >= 1
    assert iati_sums(document) == figures
