"""Any sequence of valid commands: every grouping equals a recomputation from the aggregates."""

from __future__ import annotations

import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import Ledger
from domain.commands import (
    AbandonProject,
    CancelCommitment,
    Command,
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
    ReverseDisbursement,
    ReverseRepayment,
    SignConvention,
    VoidCommitment,
    VoidProject,
)
from domain.outcomes import Written
from domain.project import Project
from domain.reference import PROGRAMMES, Instrument
from domain.reference.territories import TerritoryLevel, load_territories
from domain.values import Actor, ProjectStatus
from eventstore.settings import library_env
from projections.db import ReadModelDatabase
from projections.feed import catch_up
from projections.generations import live_generation
from projections.reading import DIMENSIONS
from projections.rebuild import rebuild
from projections.registry import READ_MODELS
from projections.totals.queries import totals
from projections.totals.tables import CUBES
from tests.projections.figures_agree import assert_projects_sum_their_commitments
from tests.projections.test_catch_up import table_rows

ACTOR = Actor(name="property")
START = date(2019, 1, 1)
TERRITORIES = {
    "hauts_de_france": (
        "region:32",
        "departement:59",
        "departement:62",
        "epci:200093201",
        "epci:246200364",
        "commune:59350",
        "commune:59650",
        "commune:59632",
        "commune:62041",
    ),
    "bretagne": ("commune:29083", "departement:29", "commune:29155"),
}
THEMES = ("mobility", "health", "digital")
PROGRAMME_CHOICES = (None, *sorted(PROGRAMMES))
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

# A step is (operation, a, b, c): small integers the interpreter maps onto a valid command
# given the ledger's state at that moment, so that every generated sequence is valid.
# Operations: 0 identify, 1 commit, 2 disburse, 3 repay, 4 cancel, 5 correct an amount,
# 6 correct a project, 7 link to a convention, 8 close; undoing what was recorded in error:
# 9 void a commitment, 10 reverse a disbursement, 11 reverse a repayment, 12 void a project
# (its live commitments first), 13 correct a commitment's date. Money moves most often.
OPERATION_TABLE = (0, 0, 1, 1, 1, 2, 2, 3, 4, 5, 5, 6, 6, 6, 7, 7, 8, 9, 10, 10, 11, 11, 12, 13, 13)
OPERATIONS = st.integers(0, len(OPERATION_TABLE) - 1).map(OPERATION_TABLE.__getitem__)
STEPS = st.lists(
    st.tuples(
        OPERATIONS,
        st.integers(0, 10**6),
        st.integers(1, 10**9),
        st.integers(0, 10**4),
    ),
    min_size=10,
    max_size=50,
)
PAGE_SIZES = st.one_of(st.just(2000), st.integers(1, 9))


class Books:
    """Runs steps against a ledger, keeping the ids it needs to pick valid targets."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.projects: list[UUID] = []
        self.conventions: list[UUID] = []

    def execute(self, actor: Actor, command: Command) -> Written:
        """Run a command; a step repeating another is meant (not a possible duplicate)."""
        return self.ledger.execute(actor, command, confirm_duplicate=True)

    def run(self, step: tuple[int, int, int, int]) -> None:
        operation, a, b, c = step
        if operation == 0 or not self.projects:
            self.identify(a, b, c)
            return
        project_id = self.projects[a % len(self.projects)]
        project = self.ledger.project(project_id)
        if project.status is ProjectStatus.VOIDED:
            return  # it takes no change
        actions: dict[int, Callable[[Project, int, int], None]] = {
            1: self.commit,
            2: self.disburse,
            3: self.repay,
            4: self.cancel,
            5: self.correct_amount,
            6: self.correct_project,
            7: self.link,
            8: self.close,
            9: self.void,
            10: self.reverse_disbursement,
            11: self.reverse_repayment,
            12: self.void_project,
            13: self.correct_date,
        }
        actions[operation](project, b, c)

    def identify(self, a: int, b: int, c: int) -> None:
        directorate = sorted(TERRITORIES)[a % 2]
        territories = TERRITORIES[directorate]
        written = self.execute(
            ACTOR,
            IdentifyProject(
                name=f"Projet {len(self.projects)}",
                territory=territories[a % len(territories)],
                theme=THEMES[b % len(THEMES)],
                directorate=directorate,
                identified_on=START + timedelta(days=(a * 37) % 1500),
                programme=PROGRAMME_CHOICES[c % len(PROGRAMME_CHOICES)],
                estimated_cost=None if c % 3 == 0 else cents_text(b * 10),
            ),
        )
        self.projects.append(written.id)

    def commit(self, project: Project, b: int, c: int) -> None:
        if not project.is_open:
            return
        on = project.identified_on + timedelta(days=c % 700)
        amount = cents_text(b)
        instrument = (Instrument.LOAN, Instrument.EQUITY, Instrument.STUDY)[c % 3]
        if instrument is Instrument.LOAN:
            self.execute(
                ACTOR,
                GrantLoan(project_id=project.id, amount=amount, granted_on=on, duration_months=60),
            )
        elif instrument is Instrument.EQUITY:
            self.execute(ACTOR, InvestEquity(project_id=project.id, amount=amount, invested_on=on))
        else:
            self.execute(
                ACTOR,
                LaunchStudy(project_id=project.id, amount=amount, launched_on=on, subject="étude"),
            )

    def _pick(self, project: Project, c: int, room: Callable[[Any], Decimal]) -> Any:
        """A commitment with room for the move; else commit money now, for later steps."""
        candidates = [
            (cid, commitment)
            for cid, commitment in sorted(project.commitments.items())
            if room(commitment) > 0
        ]
        if not candidates:
            self.commit(project, 1000 + c * 7919, c)
            return None
        return candidates[c % len(candidates)]

    def disburse(self, project: Project, b: int, c: int) -> None:
        picked = self._pick(project, c, lambda k: k.to_disburse)
        if picked is not None:
            cid, commitment = picked
            self.execute(
                ACTOR,
                Disburse(
                    project_id=project.id,
                    commitment_id=cid,
                    amount=part(commitment.to_disburse, b),
                    disbursed_on=commitment.committed_on + timedelta(days=c % 500),
                ),
            )

    def repay(self, project: Project, b: int, c: int) -> None:
        picked = self._pick(
            project,
            c,
            lambda k: k.outstanding if k.instrument is Instrument.LOAN else Decimal(0),
        )
        if picked is not None:
            cid, commitment = picked
            self.execute(
                ACTOR,
                RecordRepayment(
                    project_id=project.id,
                    commitment_id=cid,
                    principal=part(commitment.outstanding, b),
                    repaid_on=commitment.committed_on + timedelta(days=c % 900),
                ),
            )

    def cancel(self, project: Project, b: int, c: int) -> None:
        picked = self._pick(project, c, lambda k: k.to_disburse)
        if picked is not None:
            cid, commitment = picked
            self.execute(
                ACTOR,
                CancelCommitment(
                    project_id=project.id,
                    commitment_id=cid,
                    amount=part(commitment.to_disburse, b),
                    cancelled_on=commitment.committed_on + timedelta(days=c % 400),
                    reason="annulation",
                ),
            )

    def correct_amount(self, project: Project, b: int, c: int) -> None:
        picked = self._pick(project, c, lambda k: k.amount)
        if picked is not None:
            cid, commitment = picked
            floor = commitment.cancelled + commitment.disbursed
            amount = max(floor, Decimal("0.01")) + Decimal(b % 100_000) / 100
            if amount == commitment.amount:
                amount += Decimal("0.01")
            self.execute(
                ACTOR,
                CorrectCommitmentAmount(
                    project_id=project.id,
                    commitment_id=cid,
                    amount=amount,
                    reason="erreur de saisie",
                ),
            )

    def correct_project(self, project: Project, b: int, c: int) -> None:
        territories = TERRITORIES[project.directorate]
        change = c % 5
        if change == 0:
            self.execute(
                ACTOR,
                CorrectProject(
                    project_id=project.id, reason="r", territory=territories[b % len(territories)]
                ),
            )
        elif change == 1:
            self.execute(
                ACTOR, CorrectProject(project_id=project.id, reason="r", theme=THEMES[b % 3])
            )
        elif change == 2:
            self.execute(
                ACTOR,
                CorrectProject(
                    project_id=project.id, reason="r", programme=sorted(PROGRAMMES)[b % 3]
                ),
            )
        elif change == 3:
            self.execute(
                ACTOR,
                CorrectProject(project_id=project.id, reason="r", estimated_cost=cents_text(b)),
            )
        else:
            cleared = ("programme", "estimated_cost")[b % 2]
            self.execute(
                ACTOR, CorrectProject(project_id=project.id, reason="r", cleared=(cleared,))
            )

    def link(self, project: Project, b: int, c: int) -> None:
        # A project joins only a convention of its own directorate.
        own = [
            cid
            for cid in self.conventions
            if self.ledger.convention(cid).directorate == project.directorate
        ]
        if not own or c % 3 == 0:
            written = self.execute(
                ACTOR,
                SignConvention(
                    title=f"Convention {len(self.conventions)}",
                    directorate=project.directorate,
                    signatories=[TERRITORIES[project.directorate][0]],
                    themes=["mobility"],
                    signed_on=START,
                ),
            )
            self.conventions.append(written.id)
            own.append(written.id)
        convention = own[b % len(own)]
        if convention not in project.conventions:
            self.execute(ACTOR, LinkToConvention(convention_id=convention, project_id=project.id))

    def void(self, project: Project, b: int, c: int) -> None:  # noqa: ARG002
        picked = self._pick(project, c, lambda k: k.amount)
        if picked is not None:
            self.execute(
                ACTOR,
                VoidCommitment(
                    project_id=project.id, commitment_id=picked[0], reason="saisie en double"
                ),
            )

    def correct_date(self, project: Project, b: int, c: int) -> None:
        picked = self._pick(project, c, lambda k: k.amount)
        if picked is None:
            return
        cid, commitment = picked
        latest = commitment.first_movement_on or project.identified_on + timedelta(days=1500)
        span = (latest - project.identified_on).days
        on = project.identified_on + timedelta(days=b % (span + 1))
        if on != commitment.committed_on:
            self.execute(
                ACTOR,
                CorrectCommitmentDate(
                    project_id=project.id, commitment_id=cid, on=on, reason="mauvaise année"
                ),
            )

    def void_project(self, project: Project, b: int, c: int) -> None:  # noqa: ARG002
        live = [cid for cid, k in sorted(project.commitments.items()) if k.net_committed > 0]
        if live:
            command: VoidCommitment | VoidProject = VoidCommitment(
                project_id=project.id, commitment_id=live[c % len(live)], reason="en double"
            )
        else:
            command = VoidProject(project_id=project.id, reason="saisi deux fois")
        self.execute(ACTOR, command)

    def reverse_disbursement(self, project: Project, b: int, c: int) -> None:
        # A disbursement whose reversal leaves the loan's repayments covered.
        candidates = [
            (cid, number)
            for cid, commitment in sorted(project.commitments.items())
            for number, move in enumerate(commitment.disbursements, 1)
            if not move.reversed and commitment.disbursed - move.amount >= commitment.repaid
        ]
        if not candidates:
            self.disburse(project, b, c)
            return
        cid, number = candidates[c % len(candidates)]
        self.execute(
            ACTOR,
            ReverseDisbursement(
                project_id=project.id, commitment_id=cid, number=number, reason="en double"
            ),
        )

    def reverse_repayment(self, project: Project, b: int, c: int) -> None:
        candidates = [
            (cid, number)
            for cid, commitment in sorted(project.commitments.items())
            for number, move in enumerate(commitment.repayments, 1)
            if not move.reversed
        ]
        if not candidates:
            self.repay(project, b, c)
            return
        cid, number = candidates[c % len(candidates)]
        self.execute(
            ACTOR,
            ReverseRepayment(
                project_id=project.id, commitment_id=cid, number=number, reason="en double"
            ),
        )

    def close(self, project: Project, b: int, c: int) -> None:
        if project.is_open:
            on = project.identified_on + timedelta(days=c % 1000)
            if b % 2:
                self.execute(ACTOR, CompleteProject(project_id=project.id, on=on))
            else:
                self.execute(ACTOR, AbandonProject(project_id=project.id, on=on))


def cents_text(n: int) -> str:
    return f"{n // 100}.{n % 100:02d}" if n >= 1 else "0.01"


def part(room: Decimal, b: int) -> Decimal:
    """A valid amount between 0.01 and `room` (all of it one time in four)."""
    cents = int(room * 100)
    return room if b % 4 == 0 else Decimal(1 + b % cents) / 100


# Recomputation -------------------------------------------------------------------------------


# Every single dimension, and pairs that reach each cube (each is the smallest for one).
GROUPINGS = [
    *((d,) for d in DIMENSIONS),
    ("departement", "month"),
    ("band", "quarter"),
    ("theme", "month"),
    ("region", "year"),
    ("departement", "instrument"),
    ("commune", "instrument"),
]


def expected_groupings(
    ledger: Ledger, project_ids: list[UUID]
) -> dict[tuple[str, ...], dict[Any, list[Any]]]:
    """Recompute every grouping from the aggregates, in euros."""
    # Each entry: (keys by dimension, measures); measures = committed, cancelled, disbursed,
    # repaid, outstanding, projects, commitments, estimated cost, net committed of costed.
    entries: list[tuple[dict[str, Any], list[Any]]] = []
    territories = load_territories()
    for project_id in project_ids:
        project = ledger.project(project_id)
        if project.status is ProjectStatus.VOIDED:
            continue  # recorded in error: counted nowhere
        territory = territories.get(project.territory)
        costed = project.estimated_cost is not None
        common = {level.value: territory.at_level(level) for level in TerritoryLevel} | {
            "band": None if territory.band is None else territory.band.value,
            "theme": project.theme,
            "programme": project.programme,
            "directorate": project.directorate,
            "convention": str(project.conventions[0]) if project.conventions else None,
        }

        def add(on: date, instrument: str | None, measures: dict[str, Any]) -> None:
            entries.append(entry(common, costed, on, instrument, measures))  # noqa: B023

        add(
            project.identified_on,
            None,
            {"projects": 1, "estimated_cost": project.estimated_cost or Decimal(0)},
        )
        # Commitments count at their own date, with their corrected amount.
        for commitment in project.commitments.values():
            add(
                commitment.committed_on,
                commitment.instrument.value,
                {"committed": commitment.amount, "commitments": 1},
            )
        # Movements count at their own dates: read them from the recorded events. Those
        # under a voided commitment count nowhere, as the commitment itself.
        instruments = {cid: k.instrument.value for cid, k in project.commitments.items()}
        # Those reversed count nowhere either: read the reversals first, by movement number.
        voided = set(project.voided)
        events = ledger.project_events(project_id)
        reversed_moves = {
            (event.type, event.data["commitment_id"], event.data["number"])
            for event in events
            if event.type in ("DisbursementReversed", "RepaymentReversed")
        }
        numbers: dict[tuple[str, UUID], int] = defaultdict(int)
        for event in events:
            data = event.data
            if data.get("commitment_id") in voided:
                continue
            if event.type in ("FundsDisbursed", "LoanRepaid"):
                key = (event.type, data["commitment_id"])
                numbers[key] += 1
                reversal = {"FundsDisbursed": "DisbursementReversed"}.get(
                    event.type, "RepaymentReversed"
                )
                if (reversal, data["commitment_id"], numbers[key]) in reversed_moves:
                    continue
            if event.type == "FundsDisbursed":
                loan = instruments[data["commitment_id"]] == "loan"
                add(
                    data["disbursed_on"],
                    instruments[data["commitment_id"]],
                    {"disbursed": data["amount"], "outstanding": data["amount"] if loan else 0},
                )
            elif event.type == "LoanRepaid":
                add(
                    data["repaid_on"],
                    "loan",
                    {"repaid": data["principal"], "outstanding": -data["principal"]},
                )
            elif event.type == "CommitmentCancelled":
                add(
                    data["cancelled_on"],
                    instruments[data["commitment_id"]],
                    {"cancelled": data["amount"]},
                )
    groupings: dict[tuple[str, ...], dict[Any, list[Any]]] = {}
    for grouping in GROUPINGS:
        sums: dict[Any, list[Any]] = defaultdict(lambda: [Decimal(0)] * len(MEASURES))
        for keys, row in entries:
            total = sums[tuple(keys[d] for d in grouping)]
            for i, value in enumerate(row):
                total[i] += value
        groupings[grouping] = dict(sums)
    return groupings


def entry(
    common: dict[str, Any], costed: bool, on: date, instrument: str | None, measures: dict[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """One movement's keys by dimension and its measures."""
    keys = common | {
        "instrument": instrument,
        "year": on.year,
        "quarter": f"{on.year}-Q{(on.month - 1) // 3 + 1}",
        "month": f"{on.year}-{on.month:02d}",
    }
    row = [measures.get(name, Decimal(0)) for name in MEASURES]
    if costed:
        row[-1] = row[0] - row[1]
    return keys, row


MEASURES = (
    "committed",
    "cancelled",
    "disbursed",
    "repaid",
    "outstanding",
    "projects",
    "commitments",
    "estimated_cost",
    "net_costed",
)


def figures(sums: list[Any]) -> dict[str, Any]:
    """The figures of recomputed sums, as the query module gives them."""
    committed, cancelled, disbursed, repaid, outstanding, projects, commitments, cost, net = sums
    cent = Decimal("0.01")
    leverage = None
    if net and cost:
        leverage = (Decimal(cost) / Decimal(net)).quantize(cent, rounding=ROUND_HALF_UP)
    return {
        "committed": Decimal(committed).quantize(cent),
        "cancelled": Decimal(cancelled).quantize(cent),
        "net_committed": Decimal(committed - cancelled).quantize(cent),
        "disbursed": Decimal(disbursed).quantize(cent),
        "to_disburse": Decimal(committed - cancelled - disbursed).quantize(cent),
        "repaid": Decimal(repaid).quantize(cent),
        "outstanding": Decimal(outstanding).quantize(cent),
        "projects": int(projects),
        "commitments": int(commitments),
        "leverage": leverage,
    }


# Stores, one fresh pair (events, read models) per example -------------------------------------


@contextmanager
def fresh_store(kind: str, postgres_url: str | None) -> Iterator[tuple[Ledger, ReadModelDatabase]]:
    if kind == "memory":
        ledger = Ledger(env=library_env("memory://"))
        db = ReadModelDatabase.from_url("memory://")
        try:
            yield ledger, db
        finally:
            db.close()
            ledger.close()
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'ledger.sqlite3'}"
            ledger = Ledger(env=library_env(url))
            db = ReadModelDatabase.from_url(url)
            try:
                yield ledger, db
            finally:
                db.close()
                ledger.close()
        return
    assert postgres_url is not None
    schema = f"prop_{uuid.uuid4().hex[:10]}"
    base = postgres_url.partition("?")[0]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    ledger = Ledger(env=library_env(f"{base}?schema={schema}"))
    db = ReadModelDatabase.from_url(f"{base}?schema={schema}", reporting_schema=f"r{schema}")
    try:
        yield ledger, db
    finally:
        db.close()
        ledger.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA IF EXISTS "r{schema}" CASCADE')


def check_against_recomputation(
    kind: str,
    postgres_url: str | None,
    steps: list[tuple[int, int, int, int]],
    split: int,
    page_size: int,
) -> None:
    with fresh_store(kind, postgres_url) as (ledger, db):
        books = Books(ledger)
        cut = split % (len(steps) + 1)
        for step in steps[:cut]:
            books.run(step)
        catch_up(ledger, db, page_size=page_size)
        for step in steps[cut:]:
            books.run(step)

        position = catch_up(ledger, db, page_size=page_size)

        assert position == ledger.head_position()
        # One meaning per figure: each project's figures are the sums of its commitments'.
        assert assert_projects_sum_their_commitments(ledger, db, books.projects) == len(
            books.projects
        )
        expected = expected_groupings(ledger, books.projects)
        sums_by_year = expected[("year",)].values()
        # Every project may have been voided: then every total is zero.
        columns = [sum(column) for column in zip(*sums_by_year, strict=True)]
        grand = figures(columns or [Decimal(0)] * len(MEASURES))
        sources: set[str] = set()
        for grouping in GROUPINGS:
            answer = totals(db, grouping)
            got = {
                tuple(row[d] for d in grouping): {k: row[k] for k in grand} for row in answer.rows
            }
            want = {key: figures(sums) for key, sums in expected[grouping].items()}
            assert got == want, (grouping, answer.source)
            sources.add(answer.source)
            assert answer.total == grand
            for figure in ADDITIVE:
                assert sum(row[figure] for row in answer.rows) == grand[figure]
        assert sources == {"facts", *CUBES}

        # A rebuild in bulk gives the very same tables as the pages did.
        page_by_page = {rm: table_rows(db, rm, live_generation(db, rm) or 0) for rm in READ_MODELS}
        assert rebuild(ledger, db, page_size=page_size) == position
        assert {
            rm: table_rows(db, rm, live_generation(db, rm) or 0) for rm in READ_MODELS
        } == page_by_page


PROPERTY = given(steps=STEPS, split=st.integers(0, 40), page_size=PAGE_SIZES)
HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=40, deadline=None, suppress_health_check=HEALTH)
@PROPERTY
def test_totals_equal_a_recomputation_from_the_aggregates(
    kind: str, steps: list[tuple[int, int, int, int]], split: int, page_size: int
) -> None:
    check_against_recomputation(kind, None, steps, split, page_size)


@pytest.mark.postgres
@settings(max_examples=8, deadline=None, suppress_health_check=HEALTH)
@PROPERTY
def test_totals_equal_a_recomputation_from_the_aggregates_on_postgres(
    postgres_url: str, steps: list[tuple[int, int, int, int]], split: int, page_size: int
) -> None:
    check_against_recomputation("postgres", postgres_url, steps, split, page_size)
