"""One meaning per figure on the demo data: every project's figures sum its commitments'."""

from __future__ import annotations

from demo import load_demo
from domain.application import Ledger
from domain.reference import Instrument
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from tests.app.test_demo import projects_of
from tests.projections.figures_agree import assert_projects_sum_their_commitments


def test_every_demo_project_s_figures_are_the_sums_of_its_commitments() -> None:
    ledger = Ledger(env=library_env("memory://"))
    db = ReadModelDatabase.from_url("memory://")
    try:
        load_demo(ledger)
        catch_up(ledger, db)
        projects = projects_of(ledger)

        checked = assert_projects_sum_their_commitments(ledger, db, [p.id for p in projects])

        assert checked == len(projects) > 400
        # Equity and studies were disbursed in the demo, yet owe nothing.
        others = [
            c
            for p in projects
            for c in p.commitments.values()
            if c.instrument is not Instrument.LOAN and c.disbursed > 0
        ]
        assert others
        assert all(c.outstanding == 0 for c in others)
    finally:
        db.close()
        ledger.close()
