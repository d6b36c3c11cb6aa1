"""The SCDL "subventions" 2.1.1 export: the engineering studies, the ledger's grants, as CSV.

One row per study commitment, in the standard's sixteen columns and order, comma-separated,
UTF-8, dates YYYY-MM-DD, amounts with a point. docs/exports.md says what each column holds
and what the standard cannot carry (cancellations, the beneficiary's SIRET, …).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date
from uuid import UUID

from api.exports.histories import MovementKind, Progress, ProjectHistory, project_histories
from api.exports.publisher import Publisher
from api.exports.streams import buffered
from domain.application import Ledger
from domain.commitments import Commitment
from domain.reference import Instrument
from domain.reference.territories import load_territories

# The columns of SCDL subventions 2.1.1 (schema.data.gouv.fr/scdl/subventions), in order.
COLUMNS = (
    "nomAttribuant",
    "idAttribuant",
    "dateConvention",
    "referenceDecision",
    "nomBeneficiaire",
    "idBeneficiaire",
    "rnaBeneficiaire",
    "objet",
    "montant",
    "nature",
    "conditionsVersement",
    "datesPeriodeVersement",
    "idRAE",
    "notificationUE",
    "pourcentageSubvention",
    "dispositifAide",
)

NATURE = "aide en numéraire"
SINGLE_PAYMENT = "unique"
INSTALMENTS = "échelonné"
NOT_NOTIFIED = "non"
WHOLE_GRANT = "1.00"  # one beneficiary: 100 %
MAX_OBJET = 255  # the standard: fewer than 256 characters


def scdl_chunks(
    ledger: Ledger,
    *,
    publisher: Publisher | None = None,
    up_to: int | None = None,
    progress: Progress | None = None,
) -> Iterator[bytes]:
    """Yield the SCDL subventions CSV of every study commitment, in chunks of UTF-8 bytes.

    The projects are read one at a time as they stood at log position `up_to` (default:
    the head when the export starts). `progress(position, up_to)` follows the log.
    The publisher (nomAttribuant, idAttribuant) defaults to the one the settings name.
    """
    chosen = publisher if publisher is not None else Publisher.from_settings()
    return buffered(_parts(ledger, chosen, up_to, progress))


def _parts(
    ledger: Ledger, publisher: Publisher, up_to: int | None, progress: Progress | None
) -> Iterator[bytes]:
    yield _csv([COLUMNS])
    for history in project_histories(ledger, up_to=up_to, progress=progress):
        rows = study_rows(history, publisher)
        if rows:
            yield _csv(rows)


def study_rows(history: ProjectHistory, publisher: Publisher) -> list[tuple[str, ...]]:
    """The SCDL rows of a project's studies, in the order they were launched."""
    project = history.project
    beneficiary = load_territories().get(project.territory).name
    payments: dict[UUID, list[date]] = {}
    for movement in history.movements:
        if movement.kind is MovementKind.DISBURSED:
            payments.setdefault(movement.commitment_id, []).append(movement.on)
    rows: list[tuple[str, ...]] = []
    for commitment_id, commitment in project.commitments.items():
        if commitment.instrument is not Instrument.STUDY:
            continue
        paid_on = sorted(payments.get(commitment_id, []))
        rows.append(
            (
                publisher.name,
                publisher.siret,
                commitment.committed_on.isoformat(),
                str(commitment_id),
                beneficiary,
                "",  # idBeneficiaire: the ledger holds no SIRET
                "",  # rnaBeneficiaire: the beneficiaries are local authorities
                _objet(commitment),
                format(commitment.amount, "f"),
                NATURE,
                INSTALMENTS if len(paid_on) > 1 else SINGLE_PAYMENT,
                _payment_period(commitment, paid_on),
                "",  # idRAE: not an aid to businesses
                NOT_NOTIFIED,
                WHOLE_GRANT,
                "",  # dispositifAide: no identifier from the aid schemes' registry
            )
        )
    return rows


def _objet(commitment: Commitment) -> str:
    subject = str(commitment.details["subject"])
    return subject if len(subject) <= MAX_OBJET else subject[: MAX_OBJET - 1] + "…"


def _payment_period(commitment: Commitment, paid_on: list[date]) -> str:
    """The payment date, the first and last payment dates, or the study's own period."""
    if len(paid_on) == 1:
        return paid_on[0].isoformat()
    if paid_on:
        return f"{paid_on[0].isoformat()}/{paid_on[-1].isoformat()}"
    if commitment.delivered_on is not None:
        return f"{commitment.committed_on.isoformat()}/{commitment.delivered_on.isoformat()}"
    return commitment.committed_on.isoformat()


def _csv(rows: Iterable[Iterable[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode()
