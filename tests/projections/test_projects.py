"""The `projects` read model: current details, status and figures; pages; conventions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from domain.application import Ledger
from domain.commands import (
    AbandonProject,
    CancelCommitment,
    CompleteProject,
    CorrectCommitmentAmount,
    CorrectCommitmentDate,
    CorrectProject,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    LaunchStudy,
    LinkToConvention,
    RecordRepayment,
    SignConvention,
    VoidCommitment,
)
from domain.errors import InvalidValueError, NotFoundError
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.projects.queries import (
    convention_row,
    list_conventions,
    list_projects,
    project_row,
)
from projections.reading import position

ACTOR = Actor(name="projection-tests")
HDF = "hauts_de_france"


LETTERS_FOR_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def identify(
    ledger: Ledger, name: str, territory: str = "commune:59350", theme: str = "mobility"
) -> UUID:
    """Identify a project in Hauts-de-France and return its id."""
    return ledger.execute(
        ACTOR,
        IdentifyProject(
            name=name,
            territory=territory,
            theme=theme,
            directorate=HDF,
            identified_on=date(2024, 1, 10),
            reference=f"REF-{name[:20]}-{uuid4().hex[:6].translate(LETTERS_FOR_DIGITS)}",
        ),
    ).id


def sign(ledger: Ledger, title: str) -> UUID:
    """Sign a convention and return its id."""
    return ledger.execute(
        ACTOR,
        SignConvention(
            title=title,
            directorate=HDF,
            signatories=["region:32"],
            themes=["mobility", "health"],
            signed_on=date(2023, 1, 1),
            envelope="1000000.00",
        ),
    ).id


def test_a_project_carries_its_current_details_status_and_figures(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger, "Tramway")
    loan = ledger.execute(
        ACTOR,
        GrantLoan(
            project_id=project, amount="1000.00", granted_on=date(2024, 2, 1), duration_months=60
        ),
    ).commitment_id
    study = ledger.execute(
        ACTOR,
        LaunchStudy(
            project_id=project, amount="100.00", launched_on=date(2024, 2, 1), subject="Faisabilité"
        ),
    ).commitment_id
    assert loan is not None
    assert study is not None
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=project, commitment_id=loan, amount="600.00", disbursed_on=date(2024, 3, 1)
        ),
    )
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=project, commitment_id=study, amount="40.00", disbursed_on=date(2024, 3, 1)
        ),
    )
    ledger.execute(
        ACTOR,
        RecordRepayment(
            project_id=project, commitment_id=loan, principal="50.00", repaid_on=date(2024, 9, 1)
        ),
    )
    ledger.execute(
        ACTOR,
        CancelCommitment(
            project_id=project,
            commitment_id=study,
            amount="60.00",
            cancelled_on=date(2024, 4, 1),
            reason="fin",
        ),
    )
    ledger.execute(
        ACTOR,
        CorrectCommitmentAmount(
            project_id=project, commitment_id=loan, amount="1200.00", reason="typo"
        ),
    )
    ledger.execute(
        ACTOR,
        CorrectProject(
            project_id=project, reason="r", name="Tramway du Nord", territory="departement:59"
        ),
    )
    written = ledger.execute(ACTOR, CompleteProject(project_id=project, on=date(2025, 1, 1)))
    catch_up(ledger, read_db)

    row = project_row(read_db, project)

    assert row["name"] == "Tramway du Nord"
    assert (row["territory"], row["level"], row["region"], row["epci"], row["band"]) == (
        "departement:59",
        "departement",
        "region:32",
        None,
        None,
    )
    assert (row["status"], row["closed_on"]) == ("completed", date(2025, 1, 1))
    assert row["committed"] == Decimal("1300.00")
    assert row["cancelled"] == Decimal("60.00")
    assert row["net_committed"] == Decimal("1240.00")
    assert row["disbursed"] == Decimal("640.00")
    assert row["to_disburse"] == Decimal("600.00")
    assert row["repaid"] == Decimal("50.00")
    assert row["outstanding"] == Decimal("550.00")
    assert row["commitments"] == 2
    assert (row["version"], row["updated_position"]) == (written.version, written.position)


def test_projects_are_filtered_by_territory_below_theme_status_and_words(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    lille = identify(ledger, "Écoles de Lille", "commune:59350", "education")
    identify(ledger, "Gare d'Arras", "commune:62041", "mobility")
    mel = identify(ledger, "Réseau de chaleur", "epci:200093201", "energy_transition")
    ledger.execute(ACTOR, AbandonProject(project_id=mel, on=date(2024, 6, 1)))
    catch_up(ledger, read_db)

    def names(**filters: str) -> list[str]:
        return sorted(item["name"] for item in list_projects(read_db, filters).items)

    assert names(territory="departement:59") == ["Réseau de chaleur", "Écoles de Lille"]
    assert names(territory="epci:200093201", status="active") == ["Écoles de Lille"]
    assert names(theme="mobility") == ["Gare d'Arras"]
    assert names(q="ECOLES") == names(q="écoles") == ["Écoles de Lille"]
    assert names(q="REF-Gare") == ["Gare d'Arras"]
    assert names(q="100%") == []
    assert list_projects(read_db, {"status": "abandoned"}).items[0]["project_id"] == str(mel)
    assert list_projects(read_db).position == ledger.head_position()
    assert project_row(read_db, lille)["theme"] == "education"


def test_pages_of_projects_follow_each_other_without_gaps_or_repeats(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    expected = sorted(
        (name, str(identify(ledger, name))) for name in ["Gare", "Gare", "Abri", "Gare", "Zone"]
    )
    catch_up(ledger, read_db)

    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(10):
        page = list_projects(read_db, {}, limit=2, cursor=cursor)
        seen += [(item["name"], item["project_id"]) for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == expected


def test_projects_are_filtered_by_the_instrument_and_dates_of_their_commitments(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    def loan(project: UUID, on: date) -> UUID:
        granted = ledger.execute(
            ACTOR, GrantLoan(project_id=project, amount="10.00", granted_on=on, duration_months=12)
        ).commitment_id
        assert granted is not None
        return granted

    tram = identify(ledger, "Tram")
    loan(tram, date(2024, 3, 31))
    school = identify(ledger, "School")
    ledger.execute(
        ACTOR, InvestEquity(project_id=school, amount="5.00", invested_on=date(2024, 4, 1))
    )
    moved = loan(school, date(2024, 1, 15))
    ledger.execute(
        ACTOR,
        CorrectCommitmentDate(
            project_id=school, commitment_id=moved, on=date(2024, 6, 30), reason="r"
        ),
    )
    mistaken = identify(ledger, "Mistaken")
    voided = loan(mistaken, date(2024, 5, 1))
    ledger.execute(ACTOR, VoidCommitment(project_id=mistaken, commitment_id=voided, reason="r"))
    identify(ledger, "Nothing yet")
    catch_up(ledger, read_db)

    def names(after: date | None = None, before: date | None = None, **filters: str) -> list[str]:
        page = list_projects(read_db, filters, date_from=after, date_to=before)
        return [item["name"] for item in page.items]

    assert names(instrument="loan") == ["School", "Tram"]
    assert names(instrument="equity") == ["School"]
    assert names(instrument="study") == []
    # Both days of the period are in it; a corrected date counts, a voided commitment not.
    assert names(date(2024, 3, 31), date(2024, 3, 31)) == ["Tram"]
    assert names(date(2024, 4, 1)) == ["School"]
    assert names(before=date(2024, 3, 31)) == ["Tram"]
    assert names(date(2024, 4, 2), date(2024, 6, 30), instrument="loan") == ["School"]
    assert names(date(2024, 4, 2), date(2024, 6, 29), instrument="equity") == []
    assert names(date(2024, 1, 11), date(2024, 1, 31)) == []
    first = list_projects(read_db, {"instrument": "loan"}, limit=1)
    assert [item["name"] for item in first.items] == ["School"]
    rest = list_projects(read_db, {"instrument": "loan"}, limit=1, cursor=first.next_cursor)
    assert ([item["name"] for item in rest.items], rest.next_cursor) == (["Tram"], None)


def test_a_period_ending_before_it_starts_is_refused() -> None:
    db = ReadModelDatabase.from_url("memory://")

    with pytest.raises(InvalidValueError) as refused:
        list_projects(db, {}, date_from=date(2024, 2, 1), date_to=date(2024, 1, 31))

    assert refused.value.field == "from"
    db.close()


@pytest.mark.parametrize(
    ("filters", "limit", "cursor", "field"),
    [
        ({"planet": "mars"}, 10, None, "planet"),
        ({"status": "sleeping"}, 10, None, "status"),
        ({"territory": "59"}, 10, None, "territory"),
        ({"instrument": "grant"}, 10, None, "instrument"),
        ({"instrument": ""}, 10, None, "instrument"),
        ({}, 0, None, "limit"),
        ({}, 10, "not-a-cursor", "cursor"),
    ],
)
def test_a_bad_project_query_is_refused_naming_the_field(
    filters: dict[str, str], limit: int, cursor: str | None, field: str
) -> None:
    db = ReadModelDatabase.from_url("memory://")

    with pytest.raises(InvalidValueError) as refused:
        list_projects(db, filters, limit=limit, cursor=cursor)

    assert refused.value.field == field
    db.close()


def test_an_unknown_project_or_convention_is_not_found(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    identify(ledger, "Gare")
    catch_up(ledger, read_db)

    with pytest.raises(NotFoundError):
        project_row(read_db, uuid4())
    with pytest.raises(NotFoundError):
        convention_row(read_db, uuid4())


def test_conventions_sum_the_figures_of_their_projects(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    bassin = sign(ledger, "Bassin minier")
    metropole = sign(ledger, "Métropole")
    for name, amount in (("Friche", "300.00"), ("Gare", "700.00")):
        project = identify(ledger, name)
        ledger.execute(
            ACTOR,
            GrantLoan(
                project_id=project, amount=amount, granted_on=date(2024, 5, 1), duration_months=12
            ),
        )
        ledger.execute(ACTOR, LinkToConvention(convention_id=bassin, project_id=project))
    ledger.execute(ACTOR, LinkToConvention(convention_id=metropole, project_id=project))
    ending = ledger.convention(metropole)
    ending.end(on=date(2025, 1, 1), reason="échue")
    ledger.save(ending)
    catch_up(ledger, read_db)

    listed = {c["title"]: c for c in list_conventions(read_db)}
    one = convention_row(read_db, bassin)

    assert listed["Bassin minier"]["committed"] == Decimal("1000.00")
    assert listed["Bassin minier"]["projects"] == 2
    assert listed["Métropole"]["committed"] == Decimal("700.00")
    assert listed["Métropole"]["ended_on"] == date(2025, 1, 1)
    assert listed["Métropole"]["signatories"] == ["region:32"]
    assert listed["Métropole"]["envelope"] == Decimal("1000000.00")
    assert len(one["project_ids"]) == 2
    assert project_row(read_db, project)["conventions"] == [str(bassin), str(metropole)]
    assert position(read_db, "projects") == ledger.head_position()
