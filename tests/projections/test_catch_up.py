"""Feeding the read models: exactly once, resumable, and rebuilt beside the live tables."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest

from api.tokens import create_token
from domain.application import Ledger
from domain.commands import (
    CancelCommitment,
    CompleteProject,
    CorrectCommitmentAmount,
    CorrectProject,
    Disburse,
    GrantLoan,
    IdentifyProject,
    LinkToConvention,
    RecordRepayment,
    SignConvention,
)
from domain.tokens import Role
from domain.values import Actor
from projections import feed, reading
from projections.db import ReadModelDatabase
from projections.feed import ConcurrentProjectionError, apply_page, catch_up, position_of
from projections.generations import (
    create_generation,
    drop_generation,
    ensure_live_generation,
    generations,
    live_generation,
    optimize_generation,
    swap,
)
from projections.layout import generation_table
from projections.projects import queries as project_queries
from projections.registry import READ_MODELS, registered
from projections.sql import Dialect
from projections.totals import queries as totals_queries

ACTOR = Actor(name="projection-tests")
HDF = "hauts_de_france"


def record_history(ledger: Ledger, projects: int = 4) -> None:
    """Record a few projects with money moving, corrections and a convention (~40 events)."""
    convention = ledger.execute(
        ACTOR,
        SignConvention(
            title="Bassin minier",
            directorate=HDF,
            signatories=["region:32"],
            themes=["mobility"],
            signed_on=date(2022, 1, 1),
        ),
    ).id
    for i in range(projects):
        project = ledger.execute(
            ACTOR,
            IdentifyProject(
                name=f"Projet {i}",
                territory=("commune:59350", "epci:200093201", "departement:62", "region:32")[i % 4],
                theme=("mobility", "health")[i % 2],
                directorate=HDF,
                identified_on=date(2023, 1 + i, 2),
                estimated_cost=f"{1000 * (i + 1)}.00",
            ),
        ).id
        loan = ledger.execute(
            ACTOR,
            GrantLoan(
                project_id=project, amount="500.00", granted_on=date(2023, 6, 1), duration_months=60
            ),
        ).commitment_id
        assert loan is not None
        ledger.execute(
            ACTOR,
            Disburse(
                project_id=project,
                commitment_id=loan,
                amount="200.00",
                disbursed_on=date(2024, 1, 5),
            ),
        )
        ledger.execute(
            ACTOR,
            RecordRepayment(
                project_id=project,
                commitment_id=loan,
                principal="20.00",
                repaid_on=date(2024, 9, 1),
            ),
        )
        ledger.execute(
            ACTOR,
            CorrectCommitmentAmount(
                project_id=project, commitment_id=loan, amount="450.00", reason="typo"
            ),
        )
        ledger.execute(
            ACTOR,
            CancelCommitment(
                project_id=project,
                commitment_id=loan,
                amount="30.00",
                cancelled_on=date(2024, 2, 1),
                reason="r",
            ),
        )
        ledger.execute(
            ACTOR, CorrectProject(project_id=project, reason="moved", territory="commune:62041")
        )
        ledger.execute(ACTOR, LinkToConvention(convention_id=convention, project_id=project))
        ledger.execute(ACTOR, CompleteProject(project_id=project, on=date(2025, 1, 1)))


def table_rows(db: ReadModelDatabase, read_model: str, generation: int) -> dict[str, list[Any]]:
    """Every row of every table of a generation, in a stable order."""
    found: dict[str, list[Any]] = {}
    with db.transaction(readonly=True) as cur:
        for table in registered(read_model).layout.tables:
            cur.execute(
                f"SELECT * FROM {db.table(generation_table(table, generation))} ORDER BY 1, 2"  # noqa: S608
            )
            found[table] = sorted(cur.fetchall(), key=repr)
    return found


def table_exists(db: ReadModelDatabase, name: str) -> bool:
    """Whether a reporting table or view exists."""
    with db.transaction(readonly=True) as cur:
        if db.dialect is Dialect.SQLITE:
            cur.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = ?", (db.table(name),))
        else:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_schema = ? AND table_name = ?",
                (db.reporting_schema, name),
            )
        row = cur.fetchone()
        return row is not None and row[0] == 1


def answers(db: ReadModelDatabase) -> list[Any]:
    """What dashboards would read: totals, projects and conventions."""
    return [
        totals_queries.totals(db, ["region", "year"]),
        totals_queries.totals(db, ["departement", "instrument"], {"territory": "region:32"}),
        totals_queries.totals(db, ["theme", "month"]),
        totals_queries.totals(db, ["commune"], {"territory": "departement:62"}),
        project_queries.list_projects(db, {}, limit=100),
        project_queries.list_conventions(db),
    ]


def test_catching_up_twice_changes_nothing(ledger: Ledger, read_db: ReadModelDatabase) -> None:
    record_history(ledger, projects=2)
    head = catch_up(ledger, read_db)
    before = {rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS}

    again = catch_up(ledger, read_db)
    page = ledger.recorder.select_notifications(start=1, limit=10)
    replayed = apply_page(read_db, "totals", live_generation(read_db, "totals") or 0, page)

    assert head == again == replayed == ledger.head_position()
    after = {rm: table_rows(read_db, rm, live_generation(read_db, rm) or 0) for rm in READ_MODELS}
    assert after == before


def test_catching_up_in_small_pages_with_a_stop_midway_gives_the_same_as_one_pass(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger)
    head = ledger.head_position()
    catch_up(ledger, read_db)

    for read_model in READ_MODELS:
        resumed = create_generation(read_db, read_model)
        midway = catch_up(
            ledger, read_db, read_model, page_size=3, generation=resumed, stop=head // 2
        )
        assert midway == head // 2
        assert position_of(read_db, read_model, resumed) == head // 2
        done = catch_up(ledger, read_db, read_model, page_size=5, generation=resumed)

        assert done == head
        live = live_generation(read_db, read_model) or 0
        assert table_rows(read_db, read_model, resumed) == table_rows(read_db, read_model, live)


def test_a_page_claimed_by_another_projector_first_is_rolled_back(
    ledger: Ledger, read_db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_history(ledger, projects=1)
    page = ledger.recorder.select_notifications(start=1, limit=5)
    generation = ensure_live_generation(read_db, "totals")
    apply_page(read_db, "totals", generation, page[:3])
    # This projector read position 0, then the other one committed positions 1 to 3.
    monkeypatch.setattr(feed, "tracked_position", lambda *_: 0)

    with pytest.raises(ConcurrentProjectionError):
        apply_page(read_db, "totals", generation, page)

    monkeypatch.undo()
    assert position_of(read_db, "totals") == page[2].id
    assert totals_queries.totals(read_db).total["projects"] == 1


def test_events_of_other_aggregates_are_skipped_but_still_advance_the_position(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger, projects=1)
    create_token(ledger, name="dashboard", role=Role.VIEWER)

    position = catch_up(ledger, read_db)

    assert position == ledger.head_position()
    assert reading.position(read_db, "totals") == reading.position(read_db, "projects") == position


def test_a_rebuilt_generation_swaps_in_without_readers_seeing_a_difference(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger)
    catch_up(ledger, read_db)
    before = answers(read_db)
    old = {rm: live_generation(read_db, rm) or 0 for rm in READ_MODELS}

    rebuilt = {rm: create_generation(read_db, rm) for rm in READ_MODELS}
    assert answers(read_db) == before  # the empty new tables are not read
    for read_model, generation in rebuilt.items():
        catch_up(ledger, read_db, read_model, page_size=7, generation=generation)
        optimize_generation(read_db, read_model, generation)
        swap(read_db, read_model, generation)

    assert answers(read_db) == before
    for read_model in READ_MODELS:
        assert live_generation(read_db, read_model) == rebuilt[read_model]
        for table in registered(read_model).layout.tables:
            assert not table_exists(read_db, generation_table(table, old[read_model]))
            assert table_exists(read_db, generation_table(table, rebuilt[read_model]))
    assert [(g.read_model, g.generation, g.live) for g in generations(read_db)] == [
        ("projects", rebuilt["projects"], True),
        ("totals", rebuilt["totals"], True),
    ]


def test_the_stable_views_show_the_live_generation(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger, projects=2)
    catch_up(ledger, read_db)
    rebuilt = create_generation(read_db, "totals")
    catch_up(ledger, read_db, "totals", generation=rebuilt)
    swap(read_db, "totals", rebuilt)

    with read_db.transaction(readonly=True) as cur:
        cur.execute(f"SELECT COUNT(*), SUM(committed) FROM {read_db.table('facts')}")  # noqa: S608
        facts = cur.fetchone()
        cur.execute(f"SELECT SUM(disbursed) FROM {read_db.table('cube_region_month')}")  # noqa: S608
        cube = cur.fetchone()
        cur.execute(f"SELECT COUNT(*) FROM {read_db.table('projects')}")  # noqa: S608
        projects = cur.fetchone()

    total = totals_queries.totals(read_db).total
    assert facts is not None
    assert cube is not None
    assert projects is not None
    assert int(facts[1]) == total["committed"] * 100
    assert int(cube[0]) == total["disbursed"] * 100
    assert int(facts[0]) > 0
    assert int(projects[0]) == 2
    for view in ("facts", "cube_year", "cube_region_month", "projects", "project_conventions"):
        assert table_exists(read_db, view)


def test_catching_up_after_a_swap_follows_the_new_live_generation(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger, projects=1)
    catch_up(ledger, read_db)
    rebuilt = create_generation(read_db, "totals")
    catch_up(ledger, read_db, "totals", generation=rebuilt)
    swap(read_db, "totals", rebuilt)
    project = ledger.execute(
        ACTOR,
        IdentifyProject(
            name="Après la bascule",
            territory="commune:59650",
            theme="digital",
            directorate=HDF,
            identified_on=date(2025, 3, 1),
        ),
    ).id

    catch_up(ledger, read_db)

    assert totals_queries.totals(read_db, ["theme"], {"theme": "digital"}).total["projects"] == 1
    assert project_queries.project_row(read_db, project)["name"] == "Après la bascule"
    assert position_of(read_db, "totals", rebuilt) == ledger.head_position()


def test_an_abandoned_rebuild_is_dropped_and_the_live_generation_is_kept(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger, projects=1)
    catch_up(ledger, read_db)
    live = live_generation(read_db, "projects") or 0
    abandoned = create_generation(read_db, "projects")

    drop_generation(read_db, "projects", abandoned)

    assert not table_exists(read_db, generation_table("projects", abandoned))
    with pytest.raises(ValueError, match="live"):
        drop_generation(read_db, "projects", live)
    assert project_queries.list_projects(read_db).items[0]["name"] == "Projet 0"
    assert create_generation(read_db, "projects") == abandoned + 1


def test_a_project_id_in_views_is_the_canonical_uuid(
    ledger: Ledger, read_db: ReadModelDatabase
) -> None:
    record_history(ledger, projects=1)
    catch_up(ledger, read_db)

    item = project_queries.list_projects(read_db).items[0]

    assert str(UUID(item["project_id"])) == item["project_id"]
    assert totals_queries.totals(read_db, ["convention"]).rows[0]["convention"] == str(
        UUID(project_queries.list_conventions(read_db)[0]["convention_id"])
    )


@pytest.mark.parametrize(
    "missing",
    [
        # Built before the département cubes existed; before the région ones too.
        ("cube_departement_year", "cube_departement_month"),
        (
            "cube_departement_year",
            "cube_departement_month",
            "cube_region_year",
            "cube_region_month",
        ),
    ],
)
def test_a_live_generation_of_an_older_layout_is_rebuilt_by_the_next_catch_up(
    ledger: Ledger, read_db: ReadModelDatabase, missing: tuple[str, ...]
) -> None:
    record_history(ledger, projects=2)
    catch_up(ledger, read_db)
    before = answers(read_db)
    old = live_generation(read_db, "totals") or 0
    # A generation built by an older layout: the next smallest cube answers meanwhile.
    with read_db.transaction() as cur:
        for cube in missing:
            cur.execute(f"DROP VIEW {read_db.table(cube)}")
            cur.execute(f"DROP TABLE {read_db.table(generation_table(cube, old))}")
    read_db.tables_found.clear()
    assert answers(read_db) == before

    catch_up(ledger, read_db)

    assert live_generation(read_db, "totals") == old + 1
    assert answers(read_db) == before
    assert totals_queries.totals(read_db, ["region"]).source == "cube_departement_year"
    assert all(table_exists(read_db, cube) for cube in missing)
