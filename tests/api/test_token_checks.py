"""Token checks from the event loop (PostgreSQL): questions asked together, revocations seen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import UUID

import psycopg
import pytest

from api.tokens import Authenticator, TokenEventProbe, create_token, revoke_token
from domain.application import Ledger
from domain.tokens import Role
from eventstore.settings import library_env

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ledger(postgres_url: str) -> Iterator[Ledger]:
    ledger = Ledger(env=library_env(postgres_url))
    yield ledger
    ledger.close()


class CountingProbe(TokenEventProbe):
    """Counts the statements it sends."""

    statements = 0

    async def _latest_versions(self, record_ids: list[UUID]) -> dict[UUID, int]:
        self.statements += 1
        return await super()._latest_versions(record_ids)


def test_checks_waiting_together_share_one_statement_and_each_gets_its_answer(
    pg_ledger: Ledger,
) -> None:
    tokens = [create_token(pg_ledger, name=f"t{i}", role=Role.VIEWER)[1].id for i in range(5)]
    revoke_token(pg_ledger, "t0")  # t0 is at version 2

    async def ask() -> tuple[list[bool], int]:
        probe = CountingProbe(pg_ledger.recorder)
        await probe.open()
        try:
            questions = [probe.has_newer(token, 1) for token in tokens] * 20
            questions.append(probe.has_newer(UUID(int=7), None))  # no such record
            questions.append(probe.has_newer(tokens[1], None))  # any event at all
            answers = await asyncio.gather(*questions)
            return answers, probe.statements
        finally:
            await probe.close()

    answers, statements = asyncio.run(ask())
    assert answers == [True, False, False, False, False] * 20 + [False, True]
    # Asked in the same turn of the loop: one statement answers them all.
    assert statements == 1


def test_a_question_asked_while_a_statement_is_out_waits_for_the_next_one(
    pg_ledger: Ledger,
) -> None:
    token = create_token(pg_ledger, name="late", role=Role.ADMIN)[1].id

    class HeldProbe(CountingProbe):
        """Holds its first answer until released, the statement already run."""

        ran: asyncio.Event
        release: asyncio.Event

        async def _latest_versions(self, record_ids: list[UUID]) -> dict[UUID, int]:
            answer = await super()._latest_versions(record_ids)
            if self.statements == 1:
                self.ran.set()
                await self.release.wait()
            return answer

    async def ask() -> tuple[bool, bool, int]:
        probe = HeldProbe(pg_ledger.recorder)
        probe.ran, probe.release = asyncio.Event(), asyncio.Event()
        await probe.open()
        try:
            first = asyncio.create_task(probe.has_newer(token, 1))
            await probe.ran.wait()
            # Revoked after the first statement ran, before the second question.
            revoke_token(pg_ledger, "late")
            second = asyncio.create_task(probe.has_newer(token, 1))
            await asyncio.sleep(0)
            probe.release.set()
            return await first, await second, probe.statements
        finally:
            await probe.close()

    first, second, statements = asyncio.run(ask())
    assert (first, second, statements) == (False, True, 2)


def test_a_revocation_committed_before_a_check_is_seen_by_it(pg_ledger: Ledger) -> None:
    secret, _ = create_token(pg_ledger, name="soon-revoked", role=Role.ADMIN)
    authenticator = Authenticator(pg_ledger)

    async def check_revoke_check() -> tuple[object, object, bool]:
        await authenticator.open()
        try:
            before = await authenticator.check(secret)
            revoke_token(pg_ledger, "soon-revoked")
            after = await authenticator.check(secret)
            used = authenticator._probe is not None and authenticator._probe.serves_this_loop()
            return before, after, used
        finally:
            await authenticator.close()

    before, after, from_the_loop = asyncio.run(check_revoke_check())
    assert before is not None
    assert after is None
    assert from_the_loop


def test_a_store_fault_reaches_every_check_waiting(pg_ledger: Ledger) -> None:
    create_token(pg_ledger, name="any", role=Role.VIEWER)

    class FailingProbe(TokenEventProbe):
        async def _latest_versions(self, record_ids: list[UUID]) -> dict[UUID, int]:
            await asyncio.sleep(0)
            assert record_ids
            raise psycopg.OperationalError("the store went away")

    async def ask() -> list[BaseException | bool]:
        probe = FailingProbe(pg_ledger.recorder)
        await probe.open()
        try:
            return await asyncio.gather(
                *(probe.has_newer(UUID(int=i), None) for i in range(4)), return_exceptions=True
            )
        finally:
            await probe.close()

    outcomes = asyncio.run(ask())
    assert len(outcomes) == 4
    assert all(isinstance(outcome, psycopg.OperationalError) for outcome in outcomes)
