"""The Ledger application on every store: writes, history, time travel, scope and concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from domain.application import Ledger
from domain.commands import (
    CancelCommitment,
    CompleteProject,
    CorrectCommitmentAmount,
    CorrectProject,
    DeliverStudy,
    Disburse,
    GrantLoan,
    IdentifyProject,
    InvestEquity,
    LaunchStudy,
    LinkToConvention,
    Measure,
    RecordRepayment,
    SetIndicator,
    SignConvention,
)
from domain.errors import (
    AmountExceedsError,
    BusinessRuleError,
    DomainError,
    DuplicateCommitmentError,
    DuplicateReferenceError,
    InvalidValueError,
    NotFoundError,
    OutOfScopeError,
    VersionMismatchError,
)
from domain.outcomes import Written
from domain.values import Actor

HDF = "hauts_de_france"
IDF = "ile_de_france"
NORD = Actor(name="dr-hdf", directorate=HDF, correlation_id="corr-hdf-1")
PARIS = Actor(name="dr-idf", directorate=IDF, correlation_id="corr-idf-1")
ADMIN = Actor(name="admin", directorate=None, correlation_id="corr-admin-1")
IDENTIFIED_ON = date(2024, 1, 15)
GRANTED_ON = date(2024, 2, 1)
LATER = date(2024, 6, 1)


def identify(
    ledger: Ledger, actor: Actor = NORD, *, reference: str | None = None, **details: str
) -> Written:
    """Identify a project in Wattrelos for Hauts-de-France unless told otherwise."""
    return ledger.execute(
        actor,
        IdentifyProject(
            name=details.get("name", "Tramway de Wattrelos"),
            territory=details.get("territory", "commune:59650"),
            theme=details.get("theme", "mobility"),
            directorate=details.get("directorate", HDF),
            identified_on=IDENTIFIED_ON,
            reference=reference,
        ),
    )


def identify_in_paris(ledger: Ledger, actor: Actor = PARIS) -> Written:
    return identify(ledger, actor, territory="commune:75056", directorate=IDF, name="Gare")


def loan(ledger: Ledger, project_id: UUID, amount: str = "1000.00") -> UUID:
    written = ledger.execute(
        NORD,
        GrantLoan(project_id=project_id, amount=amount, granted_on=GRANTED_ON, duration_months=240),
    )
    assert written.commitment_id is not None
    return written.commitment_id


def sign(ledger: Ledger) -> UUID:
    return ledger.execute(
        NORD,
        SignConvention(
            title="Engagement pour le renouveau du Bassin minier",
            directorate=HDF,
            signatories=["departement:59", "departement:62"],
            themes=["mobility", "housing_renovation"],
            signed_on=date(2017, 3, 7),
        ),
    ).id


# Writes and history ------------------------------------------------------------------------


def test_identifying_a_project_returns_the_log_head_as_its_position(ledger: Ledger) -> None:
    written = identify(ledger)

    assert written.version == 1
    assert written.position == ledger.head_position()
    assert ledger.project(written.id).name == "Tramway de Wattrelos"


def test_identifying_a_project_with_a_reference_returns_the_position_of_the_fact(
    ledger: Ledger,
) -> None:
    written = identify(ledger, reference="HDF-2024-001")

    # The reference's index record is stored after the project's event.
    assert written.position == ledger.project_events(written.id)[-1].position
    assert written.position == ledger.head_position() - 1


def test_every_change_returns_its_id_version_and_the_position_of_its_event(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    commitment_id = loan(ledger, project_id)
    study_id = ledger.execute(
        NORD,
        LaunchStudy(
            project_id=project_id,
            amount="5000.00",
            launched_on=GRANTED_ON,
            subject="Étude de trafic",
        ),
    ).commitment_id
    assert study_id is not None
    convention_id = sign(ledger)
    writes: list[Callable[[], Written]] = [
        lambda: ledger.execute(
            NORD,
            Disburse(
                project_id=project_id,
                commitment_id=commitment_id,
                amount="400.00",
                disbursed_on=LATER,
            ),
        ),
        lambda: ledger.execute(
            NORD,
            RecordRepayment(
                project_id=project_id,
                commitment_id=commitment_id,
                principal="100.00",
                repaid_on=LATER,
            ),
        ),
        lambda: ledger.execute(
            NORD,
            CancelCommitment(
                project_id=project_id,
                commitment_id=commitment_id,
                amount="50.00",
                cancelled_on=LATER,
                reason="x",
            ),
        ),
        lambda: ledger.execute(
            NORD,
            CorrectCommitmentAmount(
                project_id=project_id, commitment_id=commitment_id, amount="1200.00", reason="typo"
            ),
        ),
        lambda: ledger.execute(
            NORD, InvestEquity(project_id=project_id, amount="300.00", invested_on=LATER)
        ),
        lambda: ledger.execute(
            NORD, DeliverStudy(project_id=project_id, commitment_id=study_id, delivered_on=LATER)
        ),
        lambda: ledger.execute(
            NORD, CorrectProject(project_id=project_id, name="Tram", reason="shorter")
        ),
        lambda: ledger.execute(
            NORD,
            SetIndicator(
                project_id=project_id, indicator="jobs", unit="jobs", target=10, due_on=LATER
            ),
        ),
        lambda: ledger.execute(
            NORD, Measure(project_id=project_id, indicator="jobs", value=4, measured_on=LATER)
        ),
        lambda: ledger.execute(
            NORD, LinkToConvention(convention_id=convention_id, project_id=project_id)
        ),
        lambda: ledger.execute(NORD, CompleteProject(project_id=project_id, on=LATER)),
    ]
    version = ledger.project(project_id).version

    results = [write() for write in writes]

    positions = {e.version: e.position for e in ledger.project_events(project_id)}
    assert [(w.id, w.version, w.position) for w in results] == [
        (project_id, version + n, positions[version + n]) for n in range(1, len(writes) + 1)
    ]


def test_signing_a_convention_returns_the_log_head_as_its_position(ledger: Ledger) -> None:
    identify(ledger)

    written = ledger.execute(
        ADMIN,
        SignConvention(
            title="Convention",
            directorate=HDF,
            signatories=["departement:59"],
            themes=["mobility"],
            signed_on=date(2017, 3, 7),
        ),
    )

    assert (written.version, written.position) == (1, ledger.head_position())


def test_a_project_history_lists_its_events_in_order_with_positions(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    identify_in_paris(ledger)
    commitment_id = loan(ledger, project_id, "1000.00")
    ledger.execute(
        NORD,
        Disburse(
            project_id=project_id, commitment_id=commitment_id, amount="250.00", disbursed_on=LATER
        ),
    )

    history = ledger.project_events(project_id)

    assert [(e.version, e.type) for e in history] == [
        (1, "ProjectIdentified"),
        (2, "LoanGranted"),
        (3, "FundsDisbursed"),
    ]
    positions = [e.position for e in history]
    assert positions == sorted(set(positions))
    assert positions[-1] == ledger.head_position()
    assert positions[1] > positions[0] + 1  # the Paris project came in between


def test_a_project_history_gives_timezone_aware_recording_times_in_order(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    loan(ledger, project_id)

    history = ledger.project_events(project_id)

    assert all(e.recorded_at.utcoffset() is not None for e in history)
    assert history[0].recorded_at < history[1].recorded_at


def test_a_project_history_gives_each_event_data(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    commitment_id = loan(ledger, project_id, "1000.00")

    history = ledger.project_events(project_id)

    assert history[0].data["territory"] == "commune:59650"
    assert history[0].data["identified_on"] == IDENTIFIED_ON
    assert history[1].data["commitment_id"] == commitment_id
    assert history[1].data["amount"] == Decimal("1000.00")
    assert history[1].data["granted_on"] == GRANTED_ON
    assert "meta" not in history[1].data


def test_a_project_history_records_who_acted_for_which_directorate(ledger: Ledger) -> None:
    project_id = identify(ledger, ADMIN).id
    loan(ledger, project_id)

    history = ledger.project_events(project_id)

    assert history[0].meta == {
        "actor": "admin",
        "directorate": "",
        "correlation_id": "corr-admin-1",
    }
    assert history[1].meta == {
        "actor": "dr-hdf",
        "directorate": HDF,
        "correlation_id": "corr-hdf-1",
    }


def test_the_history_of_an_unknown_project_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError):
        ledger.project_events(uuid4())


# Time travel -------------------------------------------------------------------------------


def test_a_project_can_be_read_at_an_earlier_version(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    commitment_id = loan(ledger, project_id, "1000.00")
    ledger.execute(
        NORD,
        Disburse(
            project_id=project_id, commitment_id=commitment_id, amount="250.00", disbursed_on=LATER
        ),
    )

    at_two = ledger.project(project_id, version=2)

    assert at_two.version == 2
    assert at_two.commitment(commitment_id).disbursed == Decimal("0.00")
    assert ledger.project(project_id).commitment(commitment_id).disbursed == Decimal("250.00")


def test_a_project_at_a_version_it_never_reached_is_not_found(ledger: Ledger) -> None:
    project_id = identify(ledger).id

    with pytest.raises(NotFoundError):
        ledger.project(project_id, version=5)


def test_a_project_can_be_read_as_it_was_recorded_at_a_time(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    commitment_id = loan(ledger, project_id, "1000.00")
    between = ledger.project_events(project_id)[-1].recorded_at
    ledger.execute(
        NORD,
        Disburse(
            project_id=project_id, commitment_id=commitment_id, amount="250.00", disbursed_on=LATER
        ),
    )
    ledger.execute(NORD, CorrectProject(project_id=project_id, name="Tram", reason="shorter"))

    then = ledger.project_as_at(project_id, between)

    assert then.version == 2
    assert then.name == "Tramway de Wattrelos"
    assert then.commitment(commitment_id).disbursed == Decimal("0.00")


def test_a_project_as_recorded_before_it_existed_is_not_found(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    first = ledger.project_events(project_id)[0].recorded_at

    with pytest.raises(NotFoundError):
        ledger.project_as_at(project_id, first - timedelta(microseconds=1))


def test_a_project_as_recorded_at_a_naive_time_is_refused(ledger: Ledger) -> None:
    project_id = identify(ledger).id

    with pytest.raises(InvalidValueError):
        ledger.project_as_at(project_id, datetime(2030, 1, 1))  # noqa: DTZ001


# Scope -------------------------------------------------------------------------------------


def test_a_directorate_cannot_write_to_another_directorates_project(ledger: Ledger) -> None:
    project_id = identify_in_paris(ledger).id
    head = ledger.head_position()

    with pytest.raises(OutOfScopeError):
        ledger.execute(
            NORD,
            GrantLoan(project_id=project_id, amount="10.00", granted_on=LATER, duration_months=12),
        )

    assert ledger.head_position() == head


def test_a_directorate_cannot_identify_a_project_for_another_directorate(ledger: Ledger) -> None:
    head = ledger.head_position()

    with pytest.raises(OutOfScopeError):
        identify_in_paris(ledger, NORD)

    assert ledger.head_position() == head


def test_an_unbound_actor_may_write_for_any_directorate(ledger: Ledger) -> None:
    project_id = identify_in_paris(ledger, ADMIN).id

    written = ledger.execute(
        ADMIN,
        GrantLoan(project_id=project_id, amount="10.00", granted_on=LATER, duration_months=12),
    )

    assert written.version == 2
    assert ledger.project(project_id).directorate == IDF


def test_a_directorate_cannot_sign_a_convention_for_another_directorate(ledger: Ledger) -> None:
    with pytest.raises(OutOfScopeError):
        ledger.execute(
            PARIS,
            SignConvention(
                title="Convention",
                directorate=HDF,
                signatories=["departement:59"],
                themes=["mobility"],
                signed_on=date(2017, 3, 7),
            ),
        )

    assert ledger.head_position() == 0


# References --------------------------------------------------------------------------------


def test_a_reference_already_used_in_the_directorate_is_refused(ledger: Ledger) -> None:
    identify(ledger, reference="HDF-2024-001")
    head = ledger.head_position()

    with pytest.raises(DuplicateReferenceError):
        identify(ledger, reference="HDF-2024-001", name="Autre projet")

    assert ledger.head_position() == head


def test_a_reference_claimed_concurrently_is_refused_and_stores_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    identify(ledger, reference="HDF-2024-001")
    head = ledger.head_position()
    # A writer that checked the index before the other's save: the store itself refuses.
    monkeypatch.setattr(ledger, "project_id_for_reference", lambda _directorate, _reference: None)

    with pytest.raises(DuplicateReferenceError):
        identify(ledger, reference="HDF-2024-001", name="Autre projet")

    assert ledger.head_position() == head


def test_the_same_reference_in_another_directorate_is_accepted(ledger: Ledger) -> None:
    first = identify(ledger, reference="REF-1")

    second = identify(ledger, PARIS, reference="REF-1", territory="commune:75056", directorate=IDF)

    assert ledger.project_id_for_reference(HDF, "REF-1") == first.id
    assert ledger.project_id_for_reference(IDF, "REF-1") == second.id


def test_a_project_is_found_by_its_reference(ledger: Ledger) -> None:
    project_id = identify(ledger, reference=" HDF-2024-001 ").id

    found = ledger.project_id_for_reference(HDF, "HDF-2024-001")

    assert found == project_id


def test_an_unused_reference_finds_no_project(ledger: Ledger) -> None:
    identify(ledger, reference="HDF-2024-001")

    found = ledger.project_id_for_reference(HDF, "HDF-2024-002")

    assert found is None


# Versions and lookups ----------------------------------------------------------------------


def test_a_write_at_an_unexpected_version_is_refused_and_stores_nothing(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    loan(ledger, project_id)
    head = ledger.head_position()

    with pytest.raises(VersionMismatchError) as refused:
        ledger.execute(
            NORD,
            CorrectProject(project_id=project_id, name="Tram", reason="shorter"),
            expected_version=1,
        )

    assert (refused.value.expected, refused.value.actual) == (1, 2)
    assert ledger.head_position() == head
    assert ledger.project(project_id).name == "Tramway de Wattrelos"


def test_a_write_at_the_expected_version_is_accepted(ledger: Ledger) -> None:
    project_id = identify(ledger).id

    written = ledger.execute(
        NORD,
        CorrectProject(project_id=project_id, name="Tram", reason="shorter"),
        expected_version=1,
    )

    assert written.version == 2


def test_a_refused_command_stores_nothing(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    commitment_id = loan(ledger, project_id, "1000.00")
    head = ledger.head_position()

    with pytest.raises(AmountExceedsError):
        ledger.execute(
            NORD,
            Disburse(
                project_id=project_id,
                commitment_id=commitment_id,
                amount="1000.01",
                disbursed_on=LATER,
            ),
        )

    assert ledger.head_position() == head
    assert ledger.project(project_id).version == 2


def test_an_unknown_project_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError):
        ledger.project(uuid4())


def test_writing_to_an_unknown_project_is_refused(ledger: Ledger) -> None:
    with pytest.raises(NotFoundError):
        ledger.execute(
            NORD,
            GrantLoan(project_id=uuid4(), amount="10.00", granted_on=LATER, duration_months=12),
        )

    assert ledger.head_position() == 0


def test_a_convention_id_is_not_found_as_a_project(ledger: Ledger) -> None:
    convention_id = sign(ledger)

    with pytest.raises(NotFoundError):
        ledger.project(convention_id)


def test_a_reference_index_id_is_not_found_as_a_project(ledger: Ledger) -> None:
    identify(ledger, reference="HDF-2024-001")
    project_ids = {ledger.project_id_for_reference(HDF, "HDF-2024-001")}
    index_id = next(i for i in ledger.iter_aggregate_ids() if i not in project_ids)

    with pytest.raises(NotFoundError):
        ledger.project(index_id)


def test_a_project_id_is_not_found_as_a_convention(ledger: Ledger) -> None:
    project_id = identify(ledger).id

    with pytest.raises(NotFoundError):
        ledger.convention(project_id)


# Conventions -------------------------------------------------------------------------------


def test_a_project_can_be_linked_to_a_convention(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    convention_id = sign(ledger)

    written = ledger.execute(
        NORD, LinkToConvention(convention_id=convention_id, project_id=project_id)
    )

    assert written.version == 2
    assert ledger.project(project_id).conventions == [convention_id]


def test_linking_a_project_to_an_ended_convention_is_refused(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    convention_id = sign(ledger)
    convention = ledger.convention(convention_id)
    convention.end(on=date(2024, 12, 31))
    ledger.save(convention)
    head = ledger.head_position()

    with pytest.raises(BusinessRuleError):
        ledger.execute(NORD, LinkToConvention(convention_id=convention_id, project_id=project_id))

    assert ledger.head_position() == head
    assert ledger.project(project_id).conventions == []


def test_linking_a_project_to_an_unknown_convention_is_refused(ledger: Ledger) -> None:
    project_id = identify(ledger).id

    with pytest.raises(NotFoundError):
        ledger.execute(NORD, LinkToConvention(convention_id=uuid4(), project_id=project_id))

    assert ledger.project(project_id).version == 1


# Concurrency -------------------------------------------------------------------------------


def test_concurrent_disbursements_never_exceed_the_commitment(ledger: Ledger) -> None:
    project_id = identify(ledger).id
    commitment_id = loan(ledger, project_id, "1000.00")
    writers = 8
    start = threading.Barrier(writers)
    written: list[Written] = []
    refused: list[DomainError] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def disburse() -> None:
        start.wait()
        try:
            result = ledger.execute(
                NORD,
                Disburse(
                    project_id=project_id,
                    commitment_id=commitment_id,
                    amount="200.00",
                    disbursed_on=LATER,
                ),
                confirm_duplicate=True,  # five equal disbursements, all meant
            )
        except DomainError as error:
            with lock:
                refused.append(error)
        except BaseException as error:  # reported by the assertion below
            with lock:
                failures.append(error)
        else:
            with lock:
                written.append(result)

    threads = [threading.Thread(target=disburse) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(written) == 5
    assert [type(e) for e in refused] == [AmountExceedsError] * 3
    commitment = ledger.project(project_id).commitment(commitment_id)
    assert commitment.disbursed == Decimal("1000.00")
    disbursements = [e for e in ledger.project_events(project_id) if e.type == "FundsDisbursed"]
    assert sorted(e.position for e in disbursements) == sorted(w.position for w in written)
    assert sorted(w.version for w in written) == [3, 4, 5, 6, 7]


def test_a_commitment_id_held_by_another_project_is_refused(ledger: Ledger) -> None:
    first = identify(ledger).id
    other = identify(ledger, name="Médiathèque").id
    commitment_id = loan(ledger, first)
    head = ledger.head_position()

    with pytest.raises(DuplicateCommitmentError, match=str(first)):
        ledger.execute(
            NORD,
            LaunchStudy(
                project_id=other,
                amount="1000.00",
                launched_on=GRANTED_ON,
                subject="Étude",
                commitment_id=commitment_id,
            ),
        )

    assert ledger.head_position() == head
    assert commitment_id not in ledger.project(other).commitments


def test_a_batch_reusing_another_projects_commitment_id_records_nothing(ledger: Ledger) -> None:
    first = identify(ledger).id
    other = identify(ledger, name="Médiathèque").id
    commitment_id = loan(ledger, first)
    head = ledger.head_position()

    study = LaunchStudy(
        project_id=other,
        commitment_id=commitment_id,
        amount="1",
        launched_on=GRANTED_ON,
        subject="s",
    )

    with pytest.raises(DuplicateCommitmentError):
        ledger.execute_batch(NORD, [study])

    assert ledger.head_position() == head


def test_a_project_cannot_join_another_directorates_convention(ledger: Ledger) -> None:
    project_id = identify_in_paris(ledger).id
    convention_id = sign(ledger)  # a Hauts-de-France convention
    head = ledger.head_position()

    with pytest.raises(BusinessRuleError, match="hauts_de_france"):
        ledger.execute(ADMIN, LinkToConvention(convention_id=convention_id, project_id=project_id))

    assert ledger.head_position() == head
