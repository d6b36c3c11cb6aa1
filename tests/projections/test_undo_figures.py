"""Undoing entries recorded in error: the read models count them nowhere, at no date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from domain.application import Ledger
from domain.commands import (
    CancelCommitment,
    CorrectCommitmentAmount,
    CorrectCommitmentDate,
    Disburse,
    InvestEquity,
    LinkToConvention,
    RecordRepayment,
    ReverseDisbursement,
    ReverseRepayment,
    SignConvention,
    VoidCommitment,
    VoidProject,
)
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.generations import live_generation
from projections.projects.queries import convention_row, list_projects, project_row
from projections.rebuild import rebuild
from projections.registry import READ_MODELS
from projections.totals.queries import totals
from tests.projections.test_catch_up import table_rows
from tests.projections.test_totals import ACTOR, by, identify, loan


def moved_loan(ledger: Ledger, project: UUID, amount: str, on: date) -> UUID:
    """A loan with a disbursement, a repayment and a cancellation, each at its own date."""
    commitment = loan(ledger, project, amount, on)
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=project,
            commitment_id=commitment,
            amount="400.00",
            disbursed_on=date(2024, 5, 3),
        ),
    )
    ledger.execute(
        ACTOR,
        RecordRepayment(
            project_id=project,
            commitment_id=commitment,
            principal="150.00",
            repaid_on=date(2025, 1, 20),
        ),
    )
    ledger.execute(
        ACTOR,
        CancelCommitment(
            project_id=project,
            commitment_id=commitment,
            amount="100.00",
            cancelled_on=date(2024, 7, 1),
            reason="solde",
        ),
    )
    return commitment


def figures(db: ReadModelDatabase) -> tuple[dict[object, dict[str, object]], ...]:
    """Every period's totals, by month and by year."""
    return by(db, "month"), by(db, "year"), by(db, "instrument")


def test_a_voided_commitment_and_its_movements_count_nowhere_at_any_date(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger, on=date(2023, 11, 6))
    kept = loan(ledger, project, "700.00", date(2024, 2, 10))
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=project, commitment_id=kept, amount="300.00", disbursed_on=date(2024, 5, 9)
        ),
    )
    catch_up(ledger, read_db)
    before = figures(read_db)
    row_before = project_row(read_db, project)

    # Recorded in error: a second loan (voided after the read models saw it) and an equity
    # stake voided within the same page as its recording.
    twice = moved_loan(ledger, project, "1000.00", date(2024, 2, 10))
    catch_up(ledger, read_db)
    assert by(read_db, "year")[2025]["repaid"] == Decimal("150.00")
    stake = ledger.execute(
        ACTOR, InvestEquity(project_id=project, amount="5000.00", invested_on=date(2026, 3, 1))
    ).commitment_id
    assert stake is not None
    for commitment in (twice, stake):
        ledger.execute(
            ACTOR,
            VoidCommitment(project_id=project, commitment_id=commitment, reason="saisi deux fois"),
        )
    catch_up(ledger, read_db)

    assert figures(read_db) == before
    row = project_row(read_db, project)
    for field in ("committed", "cancelled", "disbursed", "repaid", "outstanding", "commitments"):
        assert row[field] == row_before[field], field
    assert row["version"] == ledger.project(project).version

    # A rebuild in bulk gives the very same tables as the pages did.
    page_by_page = {
        rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS
    }
    rebuild(ledger, read_db)
    assert {
        rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS
    } == page_by_page
    assert figures(read_db) == before


def test_a_reversed_disbursement_or_repayment_leaves_its_own_period(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger, on=date(2023, 11, 6))
    commitment = moved_loan(ledger, project, "1000.00", date(2024, 2, 10))
    catch_up(ledger, read_db)
    before = by(read_db, "month")
    row_before = project_row(read_db, project)
    for extra in ("2024-08-20", "2024-09-03"):
        ledger.execute(
            ACTOR,
            Disburse(
                project_id=project,
                commitment_id=commitment,
                amount="50.00",
                disbursed_on=date.fromisoformat(extra),
            ),
        )
    ledger.execute(
        ACTOR,
        RecordRepayment(
            project_id=project,
            commitment_id=commitment,
            principal="20.00",
            repaid_on=date(2025, 3, 1),
        ),
    )
    catch_up(ledger, read_db)
    assert by(read_db, "month")["2024-09"]["disbursed"] == Decimal("50.00")

    for command in (
        ReverseRepayment(project_id=project, commitment_id=commitment, number=2, reason="erreur"),
        ReverseDisbursement(project_id=project, commitment_id=commitment, number=2, reason="r"),
        ReverseDisbursement(project_id=project, commitment_id=commitment, number=3, reason="r"),
    ):
        ledger.execute(ACTOR, command)
    catch_up(ledger, read_db)

    assert by(read_db, "month") == before
    row = project_row(read_db, project)
    for field in ("disbursed", "repaid", "outstanding"):
        assert row[field] == row_before[field], field
    page_by_page = {
        rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS
    }
    rebuild(ledger, read_db)
    assert {
        rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS
    } == page_by_page


def test_a_voided_project_counts_nowhere_and_is_listed_only_when_asked_for(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    kept = identify(ledger, on=date(2023, 11, 6))
    loan(ledger, kept, "700.00", date(2024, 2, 10))
    convention = ledger.execute(
        ACTOR,
        SignConvention(
            title="Convention",
            directorate="hauts_de_france",
            signatories=["region:32"],
            themes=["mobility"],
            signed_on=date(2023, 1, 1),
        ),
    ).id
    ledger.execute(ACTOR, LinkToConvention(convention_id=convention, project_id=kept))
    catch_up(ledger, read_db)
    before = figures(read_db)
    convention_before = convention_row(read_db, convention)

    twice = identify(ledger, on=date(2023, 11, 6), cost="5000.00")
    ledger.execute(ACTOR, LinkToConvention(convention_id=convention, project_id=twice))
    commitment = moved_loan(ledger, twice, "1000.00", date(2024, 2, 10))
    catch_up(ledger, read_db)
    ledger.execute(
        ACTOR, VoidCommitment(project_id=twice, commitment_id=commitment, reason="en double")
    )
    ledger.execute(ACTOR, VoidProject(project_id=twice, reason="saisi deux fois"))
    catch_up(ledger, read_db)

    assert figures(read_db) == before
    assert convention_row(read_db, convention) == convention_before
    listed = [p["project_id"] for p in list_projects(read_db).items]
    assert listed == [str(kept)]
    voided = list_projects(read_db, {"status": "voided"}).items
    assert [p["project_id"] for p in voided] == [str(twice)]
    assert project_row(read_db, twice)["status"] == "voided"
    page_by_page = {
        rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS
    }
    rebuild(ledger, read_db)
    assert {
        rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS
    } == page_by_page


def test_a_corrected_commitment_date_moves_its_money_to_the_new_period(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger, on=date(2023, 11, 6))
    typo = loan(ledger, project, "1000.00", date(2099, 2, 10))
    ledger.execute(
        ACTOR,
        CorrectCommitmentAmount(
            project_id=project, commitment_id=typo, amount="1200.00", reason="montant"
        ),
    )
    catch_up(ledger, read_db)
    assert by(read_db, "year")[2099]["committed"] == Decimal("1200.00")

    ledger.execute(
        ACTOR,
        CorrectCommitmentDate(
            project_id=project, commitment_id=typo, on=date(2024, 2, 10), reason="année"
        ),
    )
    ledger.execute(
        ACTOR,
        CorrectCommitmentAmount(
            project_id=project, commitment_id=typo, amount="1100.00", reason="montant"
        ),
    )
    catch_up(ledger, read_db)

    years = by(read_db, "year")
    assert 2099 not in years
    assert years[2024]["committed"] == Decimal("1100.00")
    assert years[2024]["commitments"] == 1
    # A from/to filter within the day (facts) and over whole months (cubes) finds it there.
    for start, end in (
        (date(2024, 2, 10), date(2024, 2, 10)),
        (date(2024, 1, 1), date(2024, 3, 31)),
    ):
        answer = totals(read_db, (), None, start, end)
        assert answer.total["committed"] == Decimal("1100.00")
    assert totals(read_db, (), None, date(2099, 1, 1), date(2099, 12, 31)).total["committed"] == 0
    page_by_page = {
        rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS
    }
    rebuild(ledger, read_db)
    assert {
        rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS
    } == page_by_page
