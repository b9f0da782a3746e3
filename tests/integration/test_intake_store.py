"""Intake's acceptance on a real PostgreSQL: idempotency keys within and past their retention."""

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from services.intake import commands, store
from services.intake.group_commit import GroupCommit, Submission
from shared.contract.requests import RequestForAssistance
from shared.runtime.outbox import unit_of_work
from tests.support import sample_request, unique

MIGRATIONS = Path(store.__file__).parent / "migrations"


@pytest.fixture
async def pool(schema_pool):
    return await schema_pool(MIGRATIONS)


async def accept(pool, body: dict, key: str) -> commands.Acceptance:
    async with unit_of_work(pool) as uow:
        return await commands.submit_request(
            store.PostgresStore(uow.conn),
            uow,
            RequestForAssistance.model_validate(body),
            "http",
            idempotency_key=key,
            key_ttl=timedelta(hours=24),
        )


async def test_a_key_used_again_within_its_retention_answers_with_the_first_request(pool):
    key, body = unique("key"), sample_request()
    first = await accept(pool, body, key)
    again = await accept(pool, body, key)
    assert (again.request_id, again.replayed) == (first.request_id, True)
    assert await pool.fetchval("SELECT count(*) FROM requests") == 1


async def test_a_key_used_again_after_its_retention_is_a_new_request_even_before_it_is_purged(pool):
    key = unique("key")
    first = await accept(pool, sample_request(), key)
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1", key)
    later = await accept(pool, sample_request(), key)
    assert later.replayed is False
    assert later.request_id != first.request_id
    assert await pool.fetchval("SELECT request_id FROM idempotency_keys WHERE key = $1", key) == later.request_id


async def test_an_accepted_request_has_its_first_timeline_line_and_its_event_in_the_outbox(pool):
    accepted = await accept(pool, sample_request(), unique("key"))
    assert await pool.fetchval("SELECT status FROM request_timeline WHERE request_id = $1", accepted.request_id) == (
        "submitted"
    )
    topics = await pool.fetch("SELECT topic FROM outbox WHERE key = $1 ORDER BY id", str(accepted.request_id))
    assert [row["topic"] for row in topics] == ["cri.requests", "cri.requests.contacts"]


async def test_two_groups_locking_the_same_keys_in_opposite_orders_are_both_recorded(pool):
    group_commit = GroupCommit(timedelta(hours=24), max_group=2, writers=2)
    first_key, second_key = unique("key"), unique("key")
    first, second = (
        RequestForAssistance.model_validate(sample_request()),
        RequestForAssistance.model_validate(sample_request()),
    )
    one_way = [Submission(first, first_key), Submission(second, second_key)]
    other_way = [Submission(second, second_key), Submission(first, first_key)]

    async with pool.acquire(), pool.acquire():
        pass  # both connections open, so the two transactions run side by side
    # Each transaction holds its first key and waits for the other's: PostgreSQL aborts one, which is retried.
    await asyncio.gather(group_commit.commit(pool, one_way), group_commit.commit(pool, other_way))

    answers = [await s.answer for s in one_way + other_way]
    assert answers[0].request_id == answers[3].request_id
    assert answers[1].request_id == answers[2].request_id
    assert await pool.fetchval("SELECT count(*) FROM requests") == 2
