"""The `totals` read model: what each figure counts, when, and under which dimensions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.application import Ledger
from domain.commands import (
    CancelCommitment,
    CorrectCommitmentAmount,
    CorrectProject,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    LaunchStudy,
    LinkToConvention,
    RecordRepayment,
    SignConvention,
)
from domain.errors import InvalidValueError
from domain.values import Actor
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.reading import DIMENSIONS
from projections.sql import Cursor
from projections.totals import queries
from projections.totals.queries import TooManyRowsError, totals
from projections.totals.tables import CUBES_BY_SIZE

ACTOR = Actor(name="projection-tests")
HDF = "hauts_de_france"
ARA = "auvergne_rhone_alpes"
LILLE = "commune:59350"
ARRAS = "commune:62041"
WATTRELOS = "commune:59650"
MEL = "epci:200093201"
NORD = "departement:59"
HAUTS_DE_FRANCE = "region:32"
LYON = "commune:69123"
LYON_REGION = "region:84"
ADDITIVE = (
    "committed",
    "cancelled",
    "net_committed",
    "disbursed",
    "to_disburse",
    "repaid",
    "outstanding",
    "projects",
    "commitments",
)


def identify(
    ledger: Ledger,
    territory: str = LILLE,
    *,
    theme: str = "mobility",
    on: date = date(2023, 11, 6),
    cost: str | None = None,
    programme: str | None = None,
    directorate: str = HDF,
) -> UUID:
    """Identify a project (in Hauts-de-France unless told) and return its id."""
    return ledger.execute(
        ACTOR,
        IdentifyProject(
            name=f"Projet {territory} {theme}",
            territory=territory,
            theme=theme,
            directorate=directorate,
            identified_on=on,
            estimated_cost=cost,
            programme=programme,
        ),
    ).id


def loan(ledger: Ledger, project_id: UUID, amount: str, on: date) -> UUID:
    """Grant a loan and return its commitment id."""
    written = ledger.execute(
        ACTOR, GrantLoan(project_id=project_id, amount=amount, granted_on=on, duration_months=120)
    )
    assert written.commitment_id is not None
    return written.commitment_id


def by(db: ReadModelDatabase, *group_by: str, **filters: str) -> dict[Any, dict[str, Any]]:
    """Return totals rows keyed by their group-by values (a tuple when several)."""
    answer = totals(db, group_by, filters)
    if len(group_by) == 1:
        return {row[group_by[0]]: row for row in answer.rows}
    return {tuple(row[d] for d in group_by): row for row in answer.rows}


def euros(value: str) -> Decimal:
    return Decimal(value)


def additive_sum(rows: Sequence[dict[str, Any]], figure: str) -> Any:
    return sum((row[figure] for row in rows), Decimal("0.00") if figure in MONEY else 0)


MONEY = frozenset(ADDITIVE) - {"projects", "commitments"}


def test_each_amount_counts_at_its_own_effective_date(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger, on=date(2023, 11, 6))
    commitment = loan(ledger, project, "1000.00", date(2024, 2, 10))
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
        CancelCommitment(
            project_id=project,
            commitment_id=commitment,
            amount="100.00",
            cancelled_on=date(2024, 7, 1),
            reason="r",
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

    catch_up(ledger, read_db)
    months = by(read_db, "month")
    years = by(read_db, "year")

    assert set(months) == {"2023-11", "2024-02", "2024-05", "2024-07", "2025-01"}
    assert months["2023-11"]["projects"] == 1
    assert months["2024-02"]["committed"] == euros("1000.00")
    assert months["2024-05"]["disbursed"] == euros("400.00")
    assert months["2024-05"]["outstanding"] == euros("400.00")
    assert months["2024-07"]["cancelled"] == euros("100.00")
    assert months["2025-01"]["repaid"] == euros("150.00")
    assert months["2025-01"]["outstanding"] == euros("-150.00")
    assert years[2024]["net_committed"] == euros("900.00")
    assert years[2024]["to_disburse"] == euros("500.00")
    assert years[2025]["outstanding"] == euros("-150.00")
    assert by(read_db, "quarter")["2024-Q2"]["disbursed"] == euros("400.00")


def test_an_amount_correction_changes_the_commitment_s_original_period(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger)
    commitment = loan(ledger, project, "1000.00", date(2023, 12, 15))
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=project,
            commitment_id=commitment,
            amount="200.00",
            disbursed_on=date(2024, 3, 1),
        ),
    )
    catch_up(ledger, read_db)

    ledger.execute(
        ACTOR,
        CorrectCommitmentAmount(
            project_id=project, commitment_id=commitment, amount="1500.00", reason="typo"
        ),
    )
    catch_up(ledger, read_db)

    years = by(read_db, "year")
    assert years[2023]["committed"] == euros("1500.00")
    assert years[2024]["committed"] == euros("0.00")
    assert by(read_db, "month")["2023-12"]["committed"] == euros("1500.00")
    december = totals(read_db, [], {}, date(2023, 12, 15), date(2023, 12, 15))
    assert december.source == "facts"
    assert december.total["committed"] == euros("1500.00")
    assert december.total["commitments"] == 1


def test_a_territory_correction_moves_all_the_project_s_money(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    moving = identify(ledger, LILLE, cost="5000.00")
    commitment = loan(ledger, moving, "1000.00", date(2024, 1, 10))
    ledger.execute(
        ACTOR,
        Disburse(
            project_id=moving,
            commitment_id=commitment,
            amount="300.00",
            disbursed_on=date(2024, 2, 1),
        ),
    )
    staying = identify(ledger, ARRAS)
    loan(ledger, staying, "50.00", date(2024, 1, 10))
    catch_up(ledger, read_db)
    assert by(read_db, "commune")[LILLE]["committed"] == euros("1000.00")

    ledger.execute(
        ACTOR, CorrectProject(project_id=moving, reason="wrong commune", territory=ARRAS)
    )
    catch_up(ledger, read_db)

    communes = by(read_db, "commune")
    assert set(communes) == {ARRAS}
    assert communes[ARRAS]["committed"] == euros("1050.00")
    assert communes[ARRAS]["disbursed"] == euros("300.00")
    assert communes[ARRAS]["projects"] == 2
    departements = by(read_db, "departement")
    assert set(departements) == {"departement:62"}
    assert departements["departement:62"]["outstanding"] == euros("300.00")
    by_band = by(read_db, "band", "month")
    assert set(by_band) == {("medium", "2023-11"), ("medium", "2024-01"), ("medium", "2024-02")}


def test_a_theme_correction_moves_all_the_project_s_money(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger, theme="mobility")
    commitment = loan(ledger, project, "800.00", date(2024, 4, 2))
    ledger.execute(
        ACTOR,
        CancelCommitment(
            project_id=project,
            commitment_id=commitment,
            amount="80.00",
            cancelled_on=date(2025, 4, 2),
            reason="r",
        ),
    )
    catch_up(ledger, read_db)

    ledger.execute(
        ACTOR, CorrectProject(project_id=project, reason="reclassified", theme="energy_transition")
    )
    catch_up(ledger, read_db)

    themes = by(read_db, "theme", "year")
    assert set(themes) == {
        ("energy_transition", 2023),
        ("energy_transition", 2024),
        ("energy_transition", 2025),
    }
    assert themes[("energy_transition", 2024)]["committed"] == euros("800.00")
    assert themes[("energy_transition", 2025)]["cancelled"] == euros("80.00")
    assert by(read_db, "theme", theme="mobility") == {}


def test_a_first_convention_moves_the_project_s_money_under_it(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger)
    loan(ledger, project, "700.00", date(2024, 4, 2))
    first = ledger.execute(
        ACTOR,
        SignConvention(
            title="Bassin minier",
            directorate=HDF,
            signatories=[HAUTS_DE_FRANCE],
            themes=["mobility"],
            signed_on=date(2023, 1, 1),
        ),
    ).id
    second = ledger.execute(
        ACTOR,
        SignConvention(
            title="Métropole",
            directorate=HDF,
            signatories=[MEL],
            themes=["mobility"],
            signed_on=date(2023, 1, 1),
        ),
    ).id
    catch_up(ledger, read_db)
    assert set(by(read_db, "convention")) == {None}

    ledger.execute(ACTOR, LinkToConvention(convention_id=first, project_id=project))
    ledger.execute(ACTOR, LinkToConvention(convention_id=second, project_id=project))
    catch_up(ledger, read_db)

    conventions = by(read_db, "convention")
    assert set(conventions) == {str(first)}
    assert conventions[str(first)]["committed"] == euros("700.00")


def test_a_project_at_a_coarser_level_shows_null_for_finer_levels(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    nord = identify(ledger, NORD)
    loan(ledger, nord, "100.00", date(2024, 1, 2))
    lille = identify(ledger, LILLE)
    loan(ledger, lille, "10.00", date(2024, 1, 2))
    catch_up(ledger, read_db)

    epcis = by(read_db, "epci")
    communes = by(read_db, "commune")
    bands = by(read_db, "band")

    assert epcis[None]["committed"] == euros("100.00")
    assert epcis[MEL]["committed"] == euros("10.00")
    assert communes[None]["projects"] == 1
    assert communes[LILLE]["projects"] == 1
    assert bands[None]["committed"] == euros("100.00")
    assert bands["large"]["committed"] == euros("10.00")
    assert by(read_db, "departement")[NORD]["committed"] == euros("110.00")
    assert by(read_db, "region")[HAUTS_DE_FRANCE]["committed"] == euros("110.00")
    for grouping in (epcis, communes, bands):
        assert sum(row["committed"] for row in grouping.values()) == euros("110.00")


def test_a_commune_project_carries_its_epci_departement_and_region(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    identify(ledger, WATTRELOS)
    catch_up(ledger, read_db)

    (row,) = totals(read_db, ["region", "departement", "epci", "commune", "band"], {}).rows

    assert (row["region"], row["departement"], row["epci"], row["commune"], row["band"]) == (
        HAUTS_DE_FRANCE,
        NORD,
        MEL,
        WATTRELOS,
        "medium",
    )


def test_a_territory_filter_includes_everything_below_it(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    amounts = {
        LILLE: "1.00",
        MEL: "10.00",
        NORD: "100.00",
        HAUTS_DE_FRANCE: "1000.00",
        ARRAS: "10000.00",
    }
    for territory, amount in amounts.items():
        loan(ledger, identify(ledger, territory), amount, date(2024, 6, 1))
    catch_up(ledger, read_db)

    def committed(**filters: str) -> Decimal:
        value: Decimal = totals(read_db, [], filters).total["committed"]
        return value

    assert committed(territory=NORD) == euros("111.00")
    assert committed(territory=MEL) == euros("11.00")
    assert committed(territory=LILLE) == euros("1.00")
    assert committed(territory=HAUTS_DE_FRANCE) == euros("11111.00")
    assert committed(departement="59") == committed(departement=NORD) == euros("111.00")
    assert committed(region="32") == euros("11111.00")
    assert committed(epci="") == euros("1100.00")
    assert totals(read_db, ["year"], {"territory": NORD}).source == "cube_departement_year"
    assert totals(read_db, ["theme"], {"territory": NORD}).source == "cube_year"
    assert totals(read_db, ["year"], {"territory": MEL}).source == "facts"


def test_projects_count_at_their_identification_date_under_no_instrument(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger, on=date(2023, 5, 4))
    loan(ledger, project, "100.00", date(2024, 1, 2))
    ledger.execute(
        ACTOR, InvestEquity(project_id=project, amount="50.00", invested_on=date(2024, 3, 2))
    )
    catch_up(ledger, read_db)

    years = by(read_db, "year")
    instruments = by(read_db, "instrument")

    assert (years[2023]["projects"], years[2024]["projects"]) == (1, 0)
    assert (years[2023]["commitments"], years[2024]["commitments"]) == (0, 2)
    assert instruments[None]["projects"] == 1
    assert instruments[None]["committed"] == euros("0.00")
    assert instruments["loan"]["commitments"] == 1
    assert instruments["equity"]["committed"] == euros("50.00")
    assert totals(read_db, [], {"instrument": "loan"}).total["projects"] == 0


def test_leverage_divides_estimated_costs_by_net_commitments_of_costed_projects(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    costed = identify(ledger, LILLE, cost="3000000.00")
    commitment = loan(ledger, costed, "1000000.00", date(2024, 1, 2))
    ledger.execute(
        ACTOR,
        CancelCommitment(
            project_id=costed,
            commitment_id=commitment,
            amount="250000.00",
            cancelled_on=date(2024, 2, 2),
            reason="r",
        ),
    )
    uncosted = identify(ledger, ARRAS, theme="health")
    loan(ledger, uncosted, "500000.00", date(2024, 1, 2))
    thirds = identify(ledger, WATTRELOS, theme="culture_sport", cost="1000000.00")
    loan(ledger, thirds, "300000.00", date(2024, 1, 2))
    catch_up(ledger, read_db)

    answer = totals(read_db, ["theme"], {})
    themes = {row["theme"]: row for row in answer.rows}

    assert themes["mobility"]["leverage"] == Decimal("4.00")
    assert themes["health"]["leverage"] is None
    assert themes["culture_sport"]["leverage"] == Decimal("3.33")
    assert answer.total["leverage"] == Decimal("3.81")  # 4,000,000 / 1,050,000
    assert answer.total["net_committed"] == euros("1550000.00")


def test_clearing_an_estimated_cost_takes_the_project_out_of_leverage(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    project = identify(ledger, cost="2000.00")
    loan(ledger, project, "1000.00", date(2024, 1, 2))
    catch_up(ledger, read_db)
    assert totals(read_db).total["leverage"] == Decimal("2.00")

    ledger.execute(
        ACTOR, CorrectProject(project_id=project, reason="unknown", cleared=("estimated_cost",))
    )
    catch_up(ledger, read_db)
    assert totals(read_db).total["leverage"] is None

    ledger.execute(
        ACTOR, CorrectProject(project_id=project, reason="known", estimated_cost="5000.00")
    )
    catch_up(ledger, read_db)
    assert totals(read_db, ["year"]).total["leverage"] == Decimal("5.00")


def test_every_grouping_sums_to_the_same_grand_total(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    convention = ledger.execute(
        ACTOR,
        SignConvention(
            title="Bassin minier",
            directorate=HDF,
            signatories=[HAUTS_DE_FRANCE],
            themes=["mobility", "health"],
            signed_on=date(2022, 1, 1),
        ),
    ).id
    for i, territory in enumerate((LILLE, WATTRELOS, MEL, NORD, HAUTS_DE_FRANCE, ARRAS)):
        project = identify(
            ledger,
            territory,
            theme=("mobility", "health", "digital")[i % 3],
            on=date(2022, 1 + i, 3),
            cost=f"{(i + 1) * 1000}.00" if i % 2 else None,
            programme="action_coeur_de_ville" if i % 3 == 0 else None,
        )
        granted = loan(ledger, project, f"{100 * (i + 1)}.50", date(2022 + i % 3, 6, 30))
        ledger.execute(
            ACTOR,
            Disburse(
                project_id=project,
                commitment_id=granted,
                amount="50.25",
                disbursed_on=date(2025, 1 + i, 1),
            ),
        )
        ledger.execute(
            ACTOR,
            LaunchStudy(
                project_id=project, amount="20.00", launched_on=date(2023, 12, 31), subject="étude"
            ),
        )
        if i % 2:
            ledger.execute(ACTOR, LinkToConvention(convention_id=convention, project_id=project))
    catch_up(ledger, read_db, page_size=7)
    grand = totals(read_db).total
    groupings: list[tuple[str, ...]] = [(d,) for d in DIMENSIONS]
    groupings += [("region", "year"), ("theme", "instrument"), ("epci", "month")]
    groupings += [("convention", "quarter"), ("commune", "band"), ("programme", "directorate")]

    for group_by in groupings:
        answer = totals(read_db, group_by)
        assert answer.total == grand, group_by
        for figure in ADDITIVE:
            assert additive_sum(answer.rows, figure) == grand[figure], (group_by, figure)
    assert grand["projects"] == 6
    assert grand["commitments"] == 12


def test_date_ranges_give_the_same_figures_from_cubes_and_from_facts(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    for month in range(1, 13):
        project = identify(ledger, LILLE if month % 2 else WATTRELOS, on=date(2023, 1, 1))
        loan(ledger, project, f"{month}.00", date(2024, month, 15))
    catch_up(ledger, read_db)

    year = totals(read_db, ["region"], {}, date(2024, 1, 1), date(2024, 12, 31))
    months = totals(read_db, ["region"], {}, date(2024, 3, 1), date(2024, 5, 31))
    days = totals(read_db, ["region"], {}, date(2024, 3, 15), date(2024, 5, 15))
    by_epci = totals(read_db, ["epci"], {}, date(2024, 3, 1), date(2024, 5, 31))

    by_band = totals(read_db, ["band"], {}, date(2024, 1, 1), None)
    by_theme = totals(read_db, ["theme"], {}, date(2024, 1, 1), None)
    by_theme_months = totals(read_db, ["theme"], {}, date(2024, 3, 1), date(2024, 5, 31))
    by_band_months = totals(read_db, ["band"], {}, date(2024, 3, 1), date(2024, 5, 31))
    assert (year.source, months.source, days.source, by_epci.source, by_band.source) == (
        "cube_departement_year",
        "cube_departement_month",
        "facts",
        "facts",
        "cube_year",
    )
    assert (by_theme.source, by_theme_months.source, by_band_months.source) == (
        "cube_region_year",
        "cube_region_month",
        "facts",
    )
    assert by_band.total == by_theme.total == year.total
    assert by_theme_months.total == by_band_months.total == months.total
    assert year.total["committed"] == euros("78.00")
    assert months.total["committed"] == days.total["committed"] == euros("12.00")
    assert by_epci.total == months.total
    assert totals(read_db, [], {}, date(2024, 3, 16), None).total["committed"] == euros("72.00")


# Queries that each cube answers first (the smallest whose key has every column they use).
CUBE_QUERIES: list[tuple[list[str], dict[str, str], date | None, date | None, str]] = [
    (
        ["departement", "instrument"],
        {"territory": HAUTS_DE_FRANCE},
        None,
        None,
        "cube_departement_year",
    ),
    (["region", "year"], {"instrument": "loan"}, date(2023, 1, 1), None, "cube_departement_year"),
    ([], {"territory": NORD}, None, date(2024, 12, 31), "cube_departement_year"),
    (["region", "theme"], {"territory": HAUTS_DE_FRANCE}, None, None, "cube_region_year"),
    (["programme"], {}, date(2023, 1, 1), date(2024, 12, 31), "cube_region_year"),
    (["departement", "month"], {"territory": LYON_REGION}, None, None, "cube_departement_month"),
    (
        ["instrument"],
        {"territory": NORD},
        date(2024, 3, 1),
        date(2024, 8, 31),
        "cube_departement_month",
    ),
    (["year", "programme"], {"territory": NORD}, None, None, "cube_year"),
    (["band", "instrument"], {}, None, None, "cube_year"),
    (["theme", "quarter"], {"territory": HAUTS_DE_FRANCE}, None, None, "cube_region_month"),
    (["directorate"], {}, date(2024, 2, 1), date(2024, 6, 30), "cube_region_month"),
    (["band", "month"], {"territory": NORD}, None, None, "facts"),
    (["departement", "theme"], {}, date(2024, 1, 1), date(2024, 3, 31), "facts"),
]


def test_each_query_reads_the_smallest_cube_that_answers_it_with_the_facts_figures(
    ledger: Ledger, read_db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    places = (LILLE, WATTRELOS, MEL, NORD, ARRAS, HAUTS_DE_FRANCE, LYON, LYON_REGION)
    for i, territory in enumerate(places):
        project = identify(
            ledger,
            territory,
            theme=("mobility", "health", "digital")[i % 3],
            on=date(2022 + i % 2, 1 + i, 3),
            cost=f"{(i + 1) * 1000}.00" if i % 2 else None,
            programme="action_coeur_de_ville" if i % 3 == 0 else None,
            directorate=ARA if territory in (LYON, LYON_REGION) else HDF,
        )
        granted = loan(ledger, project, f"{100 * (i + 1)}.50", date(2023 + i % 2, 1 + i, 9))
        ledger.execute(
            ACTOR,
            Disburse(
                project_id=project,
                commitment_id=granted,
                amount="50.25",
                disbursed_on=date(2024, 1 + i, 20),
            ),
        )
        ledger.execute(
            ACTOR,
            InvestEquity(project_id=project, amount="30.00", invested_on=date(2024, 12 - i, 5)),
        )
        ledger.execute(
            ACTOR,
            LaunchStudy(
                project_id=project, amount="20.00", launched_on=date(2023, 12, 31), subject="étude"
            ),
        )
        if i == 2:
            catch_up(ledger, read_db, page_size=5)
            # Moved after its figures reached the cubes: they all follow it.
            ledger.execute(
                ACTOR, CorrectProject(project_id=project, reason="moved", territory=ARRAS)
            )
    catch_up(ledger, read_db, page_size=5)

    def answer(cubes: tuple[str, ...], query: tuple[Any, ...]) -> Any:
        group_by, filters, date_from, date_to, _ = query
        monkeypatch.setattr(queries, "CUBES_BY_SIZE", cubes)
        return totals(read_db, group_by, filters, date_from, date_to)

    chosen = []
    for query in CUBE_QUERIES:
        smallest = totals(read_db, *query[:4])
        chosen.append(smallest.source)
        facts = answer((), query)
        assert facts.source == "facts"
        assert facts.total["projects"] or facts.total["committed"], query
        # Every cube that can answer gives the facts' figures, the smallest one included.
        for cube in CUBES_BY_SIZE:
            one = answer((cube,), query)
            if one.source == cube:
                assert (one.rows, one.total) == (facts.rows, facts.total), (query, cube)
        monkeypatch.undo()
        assert (smallest.rows, smallest.total) == (facts.rows, facts.total), query
    assert chosen == [query[-1] for query in CUBE_QUERIES]
    assert set(chosen) == {*CUBES_BY_SIZE, "facts"}


def test_totals_tell_the_log_position_they_reflect(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    assert totals(read_db).position == 0
    identify(ledger)

    catch_up(ledger, read_db)

    assert totals(read_db).position == ledger.head_position() > 0


@pytest.mark.parametrize(
    ("group_by", "filters", "field"),
    [
        (["planet"], {}, "group_by"),
        (["year", "year"], {}, "group_by"),
        ([], {"planet": "mars"}, "planet"),
        ([], {"region": "99"}, "region"),
        ([], {"region": "departement:59"}, "region"),
        ([], {"theme": "space"}, "theme"),
        ([], {"instrument": "grant"}, "instrument"),
        ([], {"month": "2024-13"}, "month"),
        ([], {"quarter": "2024-Q5"}, "quarter"),
        ([], {"year": "twenty"}, "year"),
        ([], {"territory": "59"}, "territory"),
        ([], {"convention": "not-an-id"}, "convention"),
        ([], {"theme": ""}, "theme"),
    ],
)
def test_an_unknown_dimension_or_a_bad_value_is_refused_naming_it(
    group_by: list[str], filters: dict[str, str], field: str
) -> None:
    db = ReadModelDatabase.from_url("memory://")

    with pytest.raises(InvalidValueError) as refused:
        totals(db, group_by, filters)

    assert refused.value.field == field
    db.close()


def test_a_date_range_ending_before_it_starts_is_refused() -> None:
    db = ReadModelDatabase.from_url("memory://")

    with pytest.raises(InvalidValueError) as refused:
        totals(db, [], {}, date(2024, 2, 1), date(2024, 1, 1))

    assert refused.value.field == "from"
    db.close()


def test_a_grouping_of_more_rows_than_the_limit_is_refused_having_fetched_one_row_more(
    ledger: Ledger, read_db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    for commune in (LILLE, ARRAS, WATTRELOS, "commune:59183"):
        loan(ledger, identify(ledger, commune), "1000", date(2024, 3, 1))
    catch_up(ledger, read_db)
    fetched: list[int] = []
    fetchall = Cursor.fetchall

    def counted(cursor: Cursor) -> list[tuple[Any, ...]]:
        rows = fetchall(cursor)
        fetched.append(len(rows))
        return rows

    monkeypatch.setattr(Cursor, "fetchall", counted)

    with pytest.raises(TooManyRowsError) as refused:
        totals(read_db, ["commune"], max_rows=2)

    assert refused.value.limit == 2
    assert refused.value.field == "group_by"
    assert "2 rows" in refused.value.detail
    assert max(fetched) == 3


def test_a_grouping_of_as_many_rows_as_the_limit_is_answered_in_full(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    for commune in (LILLE, ARRAS, WATTRELOS):
        loan(ledger, identify(ledger, commune), "1000.10", date(2024, 3, 1))
    catch_up(ledger, read_db)

    answer = totals(read_db, ["commune"], max_rows=3)

    assert [row["commune"] for row in answer.rows] == sorted([LILLE, ARRAS, WATTRELOS])
    assert answer.total["committed"] == euros("3000.30")
