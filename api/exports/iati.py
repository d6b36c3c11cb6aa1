"""The IATI 2.03 activities export: one iati-activity per project, its money as transactions.

Mapping (docs/exports.md tells it in full):
- iati-identifier: the publisher's IATI organisation identifier, "-", the project id;
- activity-status from the project's status; activity-date 2 (actual start) on the
  identification date, 4 (actual end) on the closing date of a closed project;
- recipient-country FR (or the ISO code of an overseas collectivity) and one location: the
  project's territory; sector: its theme, vocabulary 99 (the publisher's own); tag: its
  programme, vocabulary 99;
- transactions: 2 Outgoing Commitment for each commitment, and for each correction (the
  difference) and cancellation (negative); 3 Disbursement (loans and studies); 8 Purchase of
  Equity (money paid out under an equity investment); 6 Loan Repayment. Finance type 421
  (standard loan), 510 (common equity) or 110 (standard grant: the engineering studies).

Amounts are written from the ledger's Decimals, exactly. Each activity is built with lxml
and written as soon as it is complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

from lxml import etree

from api.exports.histories import (
    Movement,
    MovementKind,
    Progress,
    ProjectHistory,
    project_histories,
)
from api.exports.publisher import Publisher
from api.exports.streams import buffered
from domain.application import Ledger
from domain.reference import DIRECTORATES, INSTRUMENT_LABELS, PROGRAMMES, THEMES, Instrument
from domain.reference.territories import Territory, TerritoryLevel, load_territories
from domain.values import ProjectStatus

IATI_VERSION = "2.03"
CURRENCY = "EUR"
LANGUAGE = "fr"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
REPORTING_ORG_VOCABULARY = "99"

# IATI TransactionType codes.
OUTGOING_COMMITMENT = "2"
DISBURSEMENT = "3"
LOAN_REPAYMENT = "6"
PURCHASE_OF_EQUITY = "8"

# IATI FinanceType codes per instrument.
FINANCE_TYPES: dict[Instrument, str] = {
    Instrument.LOAN: "421",  # standard loan
    Instrument.EQUITY: "510",  # common equity
    Instrument.STUDY: "110",  # standard grant
}

# IATI ActivityStatus codes.
PIPELINE = "1"
IMPLEMENTATION = "2"
FINALISATION = "3"
CLOSED = "4"
CANCELLED = "5"

# IATI ActivityDateType codes.
ACTUAL_START = "2"
ACTUAL_END = "4"

# IATI OrganisationRole codes.
FUNDING = "1"
EXTENDING = "3"

# The ISO 3166-1 codes of the overseas collectivities that have their own (COG région
# codes); every other territory is in FR. Clipperton (989) has no ISO 3166-1 code of its own.
OVERSEAS_COUNTRIES = {
    "region:975": "PM",  # Saint-Pierre-et-Miquelon
    "region:977": "BL",  # Saint-Barthélemy
    "region:978": "MF",  # Saint-Martin
    "region:984": "TF",  # Terres australes et antarctiques françaises
    "region:986": "WF",  # Wallis-et-Futuna
    "region:987": "PF",  # Polynésie française
    "region:988": "NC",  # Nouvelle-Calédonie
}

# Geonames feature codes (IATI LocationType) and French names of each level.
FEATURE_DESIGNATIONS = {
    TerritoryLevel.REGION: "ADM1",
    TerritoryLevel.DEPARTEMENT: "ADM2",
    TerritoryLevel.EPCI: "ADMD",
    TerritoryLevel.COMMUNE: "ADM4",
}
LEVEL_NAMES = {
    TerritoryLevel.REGION: "région, code COG",
    TerritoryLevel.DEPARTEMENT: "département, code COG",
    TerritoryLevel.EPCI: "intercommunalité, SIREN",
    TerritoryLevel.COMMUNE: "commune, code INSEE",
}

MOVEMENT_NAMES = {
    MovementKind.COMMITTED: "engagement",
    MovementKind.CORRECTED: "correction du montant engagé",
    MovementKind.CANCELLED: "annulation",
    MovementKind.DISBURSED: "versement",
    MovementKind.REPAID: "remboursement du capital",
}

# Characters XML 1.0 cannot carry; an older store's text may hold one.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def iati_chunks(
    ledger: Ledger,
    *,
    publisher: Publisher | None = None,
    up_to: int | None = None,
    progress: Progress | None = None,
) -> Iterator[bytes]:
    """Yield the IATI 2.03 activities XML of every project, in chunks of UTF-8 bytes.

    The projects are read one at a time as they stood at log position `up_to` (default:
    the head when the export starts). `progress(position, up_to)` follows the log.
    The publisher defaults to the one the settings name.
    """
    chosen = publisher if publisher is not None else Publisher.from_settings()
    return buffered(_parts(ledger, chosen, up_to, progress))


def _parts(
    ledger: Ledger, publisher: Publisher, up_to: int | None, progress: Progress | None
) -> Iterator[bytes]:
    generated = datetime.now(UTC).replace(microsecond=0).isoformat()
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<iati-activities version="{IATI_VERSION}" generated-datetime="{generated}">\n'
    ).encode()
    for history in project_histories(ledger, up_to=up_to, progress=progress):
        yield etree.tostring(
            activity(history, publisher), encoding="UTF-8", xml_declaration=False, pretty_print=True
        )
    yield b"</iati-activities>\n"


def activity(history: ProjectHistory, publisher: Publisher) -> etree._Element:
    """The iati-activity element of one project."""
    project = history.project
    place = load_territories().get(project.territory)
    element = etree.Element(
        "iati-activity",
        {
            "last-updated-datetime": project.modified_on.astimezone(UTC).isoformat(),
            XML_LANG: LANGUAGE,
            "default-currency": CURRENCY,
        },
    )
    _text(element, "iati-identifier", f"{publisher.iati_ref}-{project.id}")
    _narrative(
        _child(element, "reporting-org", ref=publisher.iati_ref, type=publisher.iati_type),
        publisher.name,
    )
    _narrative(_child(element, "title"), project.name)
    _narrative(_child(element, "description", type="1"), _description(history, place))
    _narrative(
        _child(
            element,
            "participating-org",
            ref=publisher.iati_ref,
            type=publisher.iati_type,
            role=FUNDING,
        ),
        publisher.name,
    )
    _narrative(
        _child(element, "participating-org", role=EXTENDING),
        DIRECTORATES[project.directorate].label,
    )
    if project.reference is not None:
        # A1: the reporting organisation's own identifier of the activity.
        _child(element, "other-identifier", ref=project.reference, type="A1")
    _child(element, "activity-status", code=_status(history))
    _child(element, "activity-date", type=ACTUAL_START, **{"iso-date": _day(project.identified_on)})
    if project.closed_on is not None:
        _child(element, "activity-date", type=ACTUAL_END, **{"iso-date": _day(project.closed_on)})
    _child(element, "recipient-country", code=_country(place), percentage="100")
    _location(element, place)
    _narrative(
        _child(element, "sector", vocabulary=REPORTING_ORG_VOCABULARY, code=project.theme),
        THEMES[project.theme],
    )
    if project.programme is not None:
        _narrative(
            _child(element, "tag", vocabulary=REPORTING_ORG_VOCABULARY, code=project.programme),
            PROGRAMMES[project.programme],
        )
    for movement in history.movements:
        _transaction(element, movement)
    return element


def transaction_type(movement: Movement) -> str:
    """The IATI transaction type of a movement."""
    if movement.kind is MovementKind.REPAID:
        return LOAN_REPAYMENT
    if movement.kind is MovementKind.DISBURSED:
        return PURCHASE_OF_EQUITY if movement.instrument is Instrument.EQUITY else DISBURSEMENT
    return OUTGOING_COMMITMENT


def transaction_value(movement: Movement) -> Decimal:
    """The signed value of a movement's transaction: a cancellation lowers the commitment."""
    return -movement.amount if movement.kind is MovementKind.CANCELLED else movement.amount


def _transaction(parent: etree._Element, movement: Movement) -> None:
    element = _child(parent, "transaction", ref=str(movement.commitment_id))
    _child(element, "transaction-type", code=transaction_type(movement))
    _child(element, "transaction-date", **{"iso-date": _day(movement.on)})
    value = _child(element, "value", **{"value-date": _day(movement.on)})
    value.text = format(transaction_value(movement), "f")
    what = f"{INSTRUMENT_LABELS[movement.instrument]} : {MOVEMENT_NAMES[movement.kind]}"
    if movement.reason is not None:
        what += f" ({movement.reason})"
    _narrative(_child(element, "description"), what)
    _child(element, "finance-type", code=FINANCE_TYPES[movement.instrument])


def _status(history: ProjectHistory) -> str:
    project = history.project
    if project.status is ProjectStatus.ABANDONED:
        return CANCELLED
    if project.status is ProjectStatus.COMPLETED:
        # Money still to come back or to pay out keeps a completed project open.
        unsettled = any(
            c.to_disburse > 0 or (c.instrument is Instrument.LOAN and c.outstanding > 0)
            for c in project.commitments.values()
        )
        return FINALISATION if unsettled else CLOSED
    return IMPLEMENTATION if project.commitments else PIPELINE


def _description(history: ProjectHistory, place: Territory) -> str:
    project = history.project
    parts = [
        f"Projet identifié le {_day(project.identified_on)} par la "
        f"{DIRECTORATES[project.directorate].label}.",
        f"Territoire : {place.name} ({LEVEL_NAMES[place.level]} {place.local_code}).",
        f"Thème : {THEMES[project.theme]}.",
    ]
    if project.programme is not None:
        parts.append(f"Programme : {PROGRAMMES[project.programme]}.")
    if project.estimated_cost is not None:
        parts.append(f"Coût estimé : {format(project.estimated_cost, 'f')} {CURRENCY}.")
    if project.reference is not None:
        parts.append(f"Référence : {project.reference}.")
    return " ".join(parts)


def _country(place: Territory) -> str:
    region = place.at_level(TerritoryLevel.REGION)
    return OVERSEAS_COUNTRIES.get(region or "", "FR")


def _location(parent: etree._Element, place: Territory) -> None:
    element = _child(parent, "location", ref=place.code)
    _child(element, "location-reach", code="1")  # where the activity happens
    _narrative(_child(element, "name"), place.name)
    territories = load_territories()
    above = ", ".join(territories.get(code).name for code in place.parents)
    where = f"{LEVEL_NAMES[place.level]} {place.local_code}"
    _narrative(_child(element, "description"), f"{where}, {above}" if above else where)
    _child(element, "location-class", code="1")  # administrative region
    _child(element, "feature-designation", code=FEATURE_DESIGNATIONS[place.level])


def _child(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, tag, {k: _xml(v) for k, v in attributes.items()})


def _text(parent: etree._Element, tag: str, text: str) -> None:
    _child(parent, tag).text = _xml(text)


def _narrative(parent: etree._Element, text: str) -> None:
    _text(parent, "narrative", text)


def _xml(text: str) -> str:
    return NOT_XML.sub("\ufffd", text)


def _day(day: date) -> str:
    return day.isoformat()
