"""Any sequence of commands keeps the ledger's invariants, and replay rebuilds the live state."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from domain.application import Ledger
from domain.commands import (
    AbandonProject,
    CancelCommitment,
    CompleteProject,
    CorrectCommitmentAmount,
    CorrectCommitmentDate,
    CorrectProject,
    DeliverStudy,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    LaunchStudy,
    RecordRepayment,
    ReverseDisbursement,
    ReverseRepayment,
    VoidCommitment,
    VoidProject,
)
from domain.errors import DomainError
from domain.indexes import CommitmentClaim
from domain.outcomes import Written
from domain.project import Project
from domain.reference import Instrument
from domain.values import Actor
from eventstore.settings import library_env

HDF = "hauts_de_france"
ACTOR = Actor(name="dr-hdf", directorate=HDF)
IDENTIFIED_ON = date(2024, 1, 15)


def mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Valid values nine times in ten, so that sequences go deep enough to matter."""
    return st.integers(0, 9).flatmap(lambda n: invalid if n == 0 else valid)


INVALID_AMOUNTS = st.sampled_from(["0", "-1.00", "1.234", "1000000000000.01", "NaN"])
COMMITTED = mostly(
    st.one_of(
        st.sampled_from(["500.00", "1000.00", "2500.00"]),
        st.decimals(min_value=Decimal("100.00"), max_value=Decimal("3000.00"), places=2),
    ),
    INVALID_AMOUNTS,
)
MOVED = mostly(
    st.one_of(
        st.sampled_from(["100.00", "250.00", "500.00"]),
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("800.00"), places=2),
    ),
    INVALID_AMOUNTS,
)
# One date before every identification, so that some commands break the date rules.
EARLY = date(2023, 12, 1)
COMMITTED_ON = mostly(st.sampled_from([IDENTIFIED_ON, date(2024, 3, 1)]), st.just(EARLY))
MOVED_ON = mostly(st.sampled_from([date(2024, 3, 1), date(2024, 6, 1)]), st.just(IDENTIFIED_ON))
CLOSED_ON = mostly(st.just(date(2025, 1, 1)), st.just(EARLY))
LAST_DAY = date(2025, 1, 1)


class RecordingLedger(Ledger):
    """A Ledger that keeps the live object of every aggregate it saved, as it was saved."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env=env)
        self.live: dict[UUID, Aggregate] = {}

    def _save(self, actor: Actor, *aggregates: Aggregate) -> list[Recording[UUID]]:
        recordings = super()._save(actor, *aggregates)
        for aggregate in aggregates:
            self.live[aggregate.id] = aggregate
        return recordings


def state(aggregate: Aggregate) -> dict[str, Any]:
    """An aggregate's whole state, without the events it has not yet saved."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


class LedgerMachine(RuleBasedStateMachine):
    """Random commands, valid or not, sent to a Ledger; refusals must store nothing."""

    store = "memory"
    projects = Bundle[UUID]("projects")
    commitments = Bundle[tuple[UUID, UUID]]("commitments")

    def __init__(self) -> None:
        super().__init__()
        self.directory: Path | None = None
        url = "memory://"
        if self.store == "sqlite":
            self.directory = Path(tempfile.mkdtemp(prefix="funding-replay-"))
            url = f"sqlite:///{self.directory / 'ledger.sqlite3'}"
        self.env = library_env(url)
        self.ledger = RecordingLedger(self.env)
        self.project_ids: list[UUID] = []
        # The commitments each closed project had when it closed.
        self.closed: dict[UUID, set[UUID]] = {}
        # The version of each project voided, when it was voided.
        self.voided_projects: dict[UUID, int] = {}

    def attempt(self, command: Callable[[], Written], *, at_head: bool = True) -> Written | None:
        """Run a command; a refusal stores nothing, an acceptance stores up to its position."""
        head = self.ledger.head_position()
        try:
            written = command()
        except DomainError:
            assert self.ledger.head_position() == head
            return None
        assert self.ledger.head_position() > head
        # The position answered is the fact's own (index records may follow it).
        positions = self.ledger.positions.event_positions(written.id)
        assert written.position == positions[written.version] <= self.ledger.head_position()
        if at_head:
            assert written.position > head
        return written

    # Rules ---------------------------------------------------------------------------------

    @rule(
        target=projects,
        territory=mostly(
            st.sampled_from(["commune:59650", "commune:59350", "departement:62"]),
            st.sampled_from(["commune:75056", "commune:0"]),
        ),
        theme=mostly(st.sampled_from(["mobility", "health"]), st.just("space_travel")),
        programme=mostly(
            st.sampled_from([None, "action_coeur_de_ville"]), st.just("grand_paris_express")
        ),
        estimated_cost=st.one_of(st.none(), COMMITTED),
        reference=st.sampled_from([None, None, "HDF-1", "HDF-2"]),
    )
    def identify(
        self,
        territory: str,
        theme: str,
        programme: str | None,
        estimated_cost: Decimal | str | None,
        reference: str | None,
    ) -> UUID | MultipleResults[UUID]:
        written = self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                IdentifyProject(
                    name="Projet",
                    territory=territory,
                    theme=theme,
                    directorate=HDF,
                    identified_on=IDENTIFIED_ON,
                    programme=programme,
                    estimated_cost=estimated_cost,
                    reference=reference,
                ),
            ),
            # With a reference, the index event is stored after the project's.
            at_head=reference is None,
        )
        if written is None:
            return multiple()
        self.project_ids.append(written.id)
        return written.id

    def _commit(
        self, project_id: UUID, commitment_id: UUID, instrument: Instrument, amount: Any, on: date
    ) -> Written | None:
        if instrument is Instrument.LOAN:
            return self.attempt(
                lambda: self.ledger.execute(
                    ACTOR,
                    GrantLoan(
                        project_id=project_id,
                        commitment_id=commitment_id,
                        amount=amount,
                        granted_on=on,
                        duration_months=120,
                    ),
                )
            )
        if instrument is Instrument.EQUITY:
            return self.attempt(
                lambda: self.ledger.execute(
                    ACTOR,
                    InvestEquity(
                        project_id=project_id,
                        commitment_id=commitment_id,
                        amount=amount,
                        invested_on=on,
                    ),
                )
            )
        return self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                LaunchStudy(
                    project_id=project_id,
                    commitment_id=commitment_id,
                    amount=amount,
                    launched_on=on,
                    subject="Étude",
                ),
            )
        )

    @rule(
        target=commitments,
        project_id=projects,
        instrument=st.sampled_from(Instrument),
        amount=COMMITTED,
        on=COMMITTED_ON,
    )
    def commit(
        self, project_id: UUID, instrument: Instrument, amount: Decimal | str, on: date
    ) -> tuple[UUID, UUID] | MultipleResults[tuple[UUID, UUID]]:
        commitment_id = uuid4()
        if self._commit(project_id, commitment_id, instrument, amount, on) is None:
            return multiple()
        return (project_id, commitment_id)

    @rule(
        target=commitments,
        project_id=projects,
        existing=commitments,
        instrument=st.sampled_from(Instrument),
        amount=COMMITTED,
    )
    def commit_with_an_existing_id(
        self,
        project_id: UUID,
        existing: tuple[UUID, UUID],
        instrument: Instrument,
        amount: Decimal | str,
    ) -> tuple[UUID, UUID] | MultipleResults[tuple[UUID, UUID]]:
        commitment_id = existing[1]
        if self._commit(project_id, commitment_id, instrument, amount, LAST_DAY) is None:
            return multiple()
        return (project_id, commitment_id)

    @rule(commitment=commitments, amount=MOVED, on=MOVED_ON)
    def disburse(self, commitment: tuple[UUID, UUID], amount: Decimal | str, on: date) -> None:
        project_id, commitment_id = commitment
        self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                Disburse(
                    project_id=project_id,
                    commitment_id=commitment_id,
                    amount=amount,
                    disbursed_on=on,
                ),
            )
        )

    @rule(project_id=projects, commitment=commitments, amount=MOVED)
    def disburse_on_another_project(
        self, project_id: UUID, commitment: tuple[UUID, UUID], amount: Decimal | str
    ) -> None:
        self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                Disburse(
                    project_id=project_id,
                    commitment_id=commitment[1],
                    amount=amount,
                    disbursed_on=LAST_DAY,
                ),
            )
        )

    @rule(commitment=commitments, principal=MOVED, on=MOVED_ON)
    def repay(self, commitment: tuple[UUID, UUID], principal: Decimal | str, on: date) -> None:
        project_id, commitment_id = commitment
        self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                RecordRepayment(
                    project_id=project_id,
                    commitment_id=commitment_id,
                    principal=principal,
                    repaid_on=on,
                ),
            )
        )

    @rule(commitment=commitments, amount=MOVED, on=MOVED_ON)
    def cancel(self, commitment: tuple[UUID, UUID], amount: Decimal | str, on: date) -> None:
        project_id, commitment_id = commitment
        self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                CancelCommitment(
                    project_id=project_id,
                    commitment_id=commitment_id,
                    amount=amount,
                    cancelled_on=on,
                    reason="revu",
                ),
            )
        )

    @rule(commitment=commitments, amount=COMMITTED)
    def correct_amount(self, commitment: tuple[UUID, UUID], amount: Decimal | str) -> None:
        project_id, commitment_id = commitment
        self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                CorrectCommitmentAmount(
                    project_id=project_id,
                    commitment_id=commitment_id,
                    amount=amount,
                    reason="erreur de saisie",
                ),
            )
        )

    @rule(commitment=commitments, on=MOVED_ON)
    def deliver_study(self, commitment: tuple[UUID, UUID], on: date) -> None:
        project_id, commitment_id = commitment
        self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                DeliverStudy(project_id=project_id, commitment_id=commitment_id, delivered_on=on),
            )
        )

    @rule(
        project_id=projects,
        territory=mostly(
            st.sampled_from([None, "commune:59350", "commune:59650"]),
            st.sampled_from(["commune:75056", "commune:0"]),
        ),
        theme=mostly(st.sampled_from([None, "health", "mobility"]), st.just("space_travel")),
        estimated_cost=st.one_of(st.none(), COMMITTED),
        cleared=mostly(
            st.sampled_from([(), ("programme",), ("estimated_cost",)]), st.just(("theme",))
        ),
    )
    def correct_details(
        self,
        project_id: UUID,
        territory: str | None,
        theme: str | None,
        estimated_cost: Decimal | str | None,
        cleared: tuple[str, ...],
    ) -> None:
        self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                CorrectProject(
                    project_id=project_id,
                    reason="correction",
                    territory=territory,
                    theme=theme,
                    estimated_cost=estimated_cost,
                    cleared=cleared,
                ),
            )
        )

    @rule(
        commitment=commitments,
        number=st.integers(0, 4),
        repayment=st.booleans(),
        reason=mostly(st.just("saisi deux fois"), st.just("")),
    )
    def reverse(
        self, commitment: tuple[UUID, UUID], number: int, repayment: bool, reason: str
    ) -> None:
        project_id, commitment_id = commitment
        reverse = ReverseRepayment if repayment else ReverseDisbursement
        self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                reverse(
                    project_id=project_id,
                    commitment_id=commitment_id,
                    number=number,
                    reason=reason,
                ),
            )
        )

    @rule(
        commitment=commitments,
        on=st.sampled_from([EARLY, IDENTIFIED_ON, date(2024, 3, 1), date(2024, 6, 1), LAST_DAY]),
    )
    def correct_date(self, commitment: tuple[UUID, UUID], on: date) -> None:
        project_id, commitment_id = commitment
        written = self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                CorrectCommitmentDate(
                    project_id=project_id, commitment_id=commitment_id, on=on, reason="r"
                ),
            )
        )
        if written is not None:
            corrected = self.ledger.project(project_id).commitments[commitment_id]
            assert corrected.committed_on == on
            first = corrected.first_movement_on
            assert first is None or on <= first

    @rule(project_id=projects, reason=mostly(st.just("saisi deux fois"), st.just("")))
    def void_project(self, project_id: UUID, reason: str) -> None:
        live = any(
            c.net_committed > 0 for c in self.ledger.project(project_id).commitments.values()
        )
        written = self.attempt(
            lambda: self.ledger.execute(ACTOR, VoidProject(project_id=project_id, reason=reason))
        )
        # Refused while money remains committed to it; afterwards it takes no change.
        assert written is None or not live
        if written is not None:
            self.voided_projects[project_id] = self.ledger.project(project_id).version

    @rule(project_id=projects, on=CLOSED_ON, abandon=st.booleans())
    def close(self, project_id: UUID, on: date, abandon: bool) -> None:
        close = AbandonProject if abandon else CompleteProject
        written = self.attempt(
            lambda: self.ledger.execute(ACTOR, close(project_id=project_id, on=on))
        )
        if written is not None:
            self.closed[project_id] = recorded_commitments(self.ledger.project(project_id))

    @rule(commitment=commitments, reason=mostly(st.just("saisie en double"), st.just("  ")))
    def void(self, commitment: tuple[UUID, UUID], reason: str) -> None:
        project_id, commitment_id = commitment
        written = self.attempt(
            lambda: self.ledger.execute(
                ACTOR,
                VoidCommitment(project_id=project_id, commitment_id=commitment_id, reason=reason),
            )
        )
        if written is not None:
            project = self.ledger.project(project_id)
            assert commitment_id in project.voided
            assert commitment_id not in project.commitments

    # Invariants ----------------------------------------------------------------------------

    @invariant()
    def money_stays_within_its_bounds(self) -> None:
        for project_id in self.project_ids:
            project = self.ledger.project(project_id)
            for commitment in project.commitments.values():
                assert Decimal(0) <= commitment.cancelled <= commitment.amount
                assert Decimal(0) <= commitment.disbursed <= commitment.net_committed
                assert Decimal(0) <= commitment.repaid <= commitment.disbursed
                if commitment.instrument is not Instrument.LOAN:
                    assert commitment.repaid == 0
                # The figures are the sums of the movements not reversed.
                for moves, total in (
                    (commitment.disbursements, commitment.disbursed),
                    (commitment.repayments, commitment.repaid),
                ):
                    assert sum((m.amount for m in moves if not m.reversed), Decimal(0)) == total

    @invariant()
    def a_closed_project_takes_no_new_commitment(self) -> None:
        for project_id, commitments in self.closed.items():
            project = self.ledger.project(project_id)
            assert not project.is_open
            assert recorded_commitments(project) == commitments

    @invariant()
    def a_voided_project_takes_no_change(self) -> None:
        for project_id, version in self.voided_projects.items():
            assert self.ledger.project(project_id).version == version

    @invariant()
    def the_stored_events_rebuild_the_live_state(self) -> None:
        for project_id in self.project_ids:
            replayed = self.ledger.project(project_id)
            assert isinstance(replayed, Project)
            assert state(replayed) == state(self.ledger.live[project_id])

    def teardown(self) -> None:
        # Replay everything from the store through a Ledger that never saw the live objects.
        replayer = self.ledger if self.store == "memory" else Ledger(env=self.env)
        try:
            stored = {
                i
                for i in replayer.iter_aggregate_ids()
                if not isinstance(replayer.repository.get(i), CommitmentClaim)
            }
            assert stored == set(self.ledger.live)
            for aggregate_id, live in self.ledger.live.items():
                replayed: Aggregate = replayer.repository.get(aggregate_id)
                assert type(replayed) is type(live)
                assert state(replayed) == state(live)
        finally:
            if replayer is not self.ledger:
                replayer.close()
            self.ledger.close()
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)


def recorded_commitments(project: Project) -> set[UUID]:
    """Every commitment ever recorded on a project, voided or not."""
    assert not set(project.commitments) & set(project.voided)
    return set(project.commitments) | set(project.voided)


class SQLiteLedgerMachine(LedgerMachine):
    """The same machine on an SQLite file, one per example."""

    store = "sqlite"


@pytest.mark.parametrize(
    ("machine", "examples"),
    [
        pytest.param(LedgerMachine, 60, id="memory"),
        pytest.param(SQLiteLedgerMachine, 15, id="sqlite"),
    ],
)
def test_any_command_sequence_keeps_the_invariants_and_replays_to_the_live_state(
    machine: type[LedgerMachine], examples: int
) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
