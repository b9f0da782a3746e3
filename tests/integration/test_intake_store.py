"""Intake's acceptance on a real PostgreSQL: idempotency keys within and past their retention, a group recorded by
one statement whatever its size, and answered as if its submissions came one after the other."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from services.intake import commands, store
from services.intake.commands import IdempotencyConflict
from services.intake.group_commit import GroupCommit, Submission
from services.intake.handlers import InboundSubmissions
from services.intake.settings import IntakeSettings
from shared.contract.envelope import Envelope
from shared.contract.events import AgencySummary, EngagementOpened, ProviderRef
from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Tier
from shared.runtime.outbox import unit_of_work
from tests.support import sample_request, unique, watch_statements

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
    # Keys are locked in one order whatever the group's: the second transaction waits for the first's keys, then
    # finds them in use (read again after the wait) and replays the first's requests.
    await asyncio.gather(group_commit.commit(pool, one_way), group_commit.commit(pool, other_way))

    answers = [await s.answer for s in one_way + other_way]
    assert answers[0].request_id == answers[3].request_id
    assert answers[1].request_id == answers[2].request_id
    assert await pool.fetchval("SELECT count(*) FROM requests") == 2


def keyed(n: int) -> list[Submission]:
    return [Submission(RequestForAssistance.model_validate(sample_request()), unique("key")) for _ in range(n)]


def inbound_record(offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord("cri.intake.submissions", 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


@pytest.mark.parametrize("size", [1, 64])
async def test_a_group_of_keyed_submissions_is_four_statements_whatever_its_size(pool, size):
    group = keyed(size)
    sent = await watch_statements(pool)

    await GroupCommit(timedelta(hours=24), max_group=64, writers=1).commit(pool, group)

    # BEGIN, the keys, requests and timelines (one statement), the outbox, COMMIT; it was 3 + 2 per submission.
    assert len(sent) == 4, sent
    assert {(await s.answer).replayed for s in group} == {False}
    assert await pool.fetchval("SELECT count(*) FROM requests") == size
    assert await pool.fetchval("SELECT count(*) FROM request_timeline WHERE status = 'submitted'") == size
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 2 * size  # RequestReceived, RequestContactGiven


async def test_a_kafka_batch_is_four_statements_and_its_invalid_record_is_rejected(pool):
    records = [inbound_record(offset, json.dumps(sample_request()).encode()) for offset in range(100)]
    sent = await watch_statements(pool)

    await InboundSubmissions(pool, IntakeSettings()).apply_batch([*records, inbound_record(100, b"{}")])

    assert len(sent) == 4, sent  # it was 3 + 2 per valid record
    outbox = await pool.fetch("SELECT topic, count(*) AS n FROM outbox GROUP BY topic")
    assert {row["topic"]: row["n"] for row in outbox} == {
        "cri.requests": 100,
        "cri.requests.contacts": 100,
        "cri.intake.rejections": 1,
    }
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 100


async def test_a_key_twice_in_one_group_is_one_request_and_another_body_under_it_a_conflict(pool):
    request, other = (RequestForAssistance.model_validate(sample_request()) for _ in range(2))
    key = unique("key")
    group = [Submission(request, key), Submission(request.model_copy(), key), Submission(other, key)]

    await GroupCommit(timedelta(hours=24), max_group=64, writers=1).commit(pool, group)

    first, again = await group[0].answer, await group[1].answer
    assert (again.request_id, again.replayed, first.replayed) == (first.request_id, True, False)
    with pytest.raises(IdempotencyConflict):
        await group[2].answer
    assert await pool.fetchval("SELECT count(*) FROM requests") == 1


async def test_a_client_reference_sent_before_or_twice_in_a_group_is_one_request_its_keys_naming_it(pool):
    body = sample_request(client_reference="CASE-77")
    earlier = await accept(pool, body, unique("key"))
    again_key, twice = unique("key"), sample_request(client_reference="CASE-78")
    group = [
        Submission(RequestForAssistance.model_validate({**body, "assistance": twice["assistance"]}), again_key),
        Submission(RequestForAssistance.model_validate(twice), None),
        Submission(RequestForAssistance.model_validate({**twice, "assistance": body["assistance"]}), None),
    ]

    await GroupCommit(timedelta(hours=24), max_group=64, writers=1).commit(pool, group)

    again, first_of_two, second_of_two = [await s.answer for s in group]
    assert (again.request_id, again.replayed) == (earlier.request_id, True)
    assert (
        await pool.fetchval("SELECT request_id FROM idempotency_keys WHERE key = $1", again_key) == earlier.request_id
    )
    assert (first_of_two.replayed, second_of_two.request_id) == (False, first_of_two.request_id)
    stored = await pool.fetchval("SELECT body FROM requests WHERE request_id = $1", first_of_two.request_id)
    assert stored == group[1].request.model_dump(mode="json")  # the first of the two is the one recorded
    assert await pool.fetchval("SELECT count(*) FROM requests") == 2


async def test_a_submission_postgresql_refuses_fails_alone_and_the_rest_of_its_group_is_recorded(pool):
    group = keyed(3)
    group[1] = Submission(group[1].request, "a key PostgreSQL cannot store: \x00")

    await GroupCommit(timedelta(hours=24), max_group=64, writers=1).commit(pool, group)

    assert {(await s.answer).replayed for s in (group[0], group[2])} == {False}
    with pytest.raises(asyncpg.PostgresError):
        await group[1].answer
    assert await pool.fetchval("SELECT count(*) FROM requests") == 2
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 4


async def test_a_followed_event_moves_its_request_and_adds_its_timeline_line_in_one_statement(pool):
    accepted = await accept(pool, sample_request(), unique("key"))
    opened = EngagementOpened(
        engagement_id=uuid.uuid4(),
        request_id=accepted.request_id,
        tier=Tier.CRI_TAC,
        provider=ProviderRef(provider_id="iacp", name="IACP"),
        agency=AgencySummary.of(RequestForAssistance.model_validate(sample_request()).agency),
        opened_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(opened, source="engagements", correlation_id="c")
    sent = await watch_statements(pool)

    async with pool.acquire() as conn:
        await commands.track_status(store.PostgresStore(conn), envelope, opened)

    assert len(sent) == 1, sent
    found = await pool.fetchrow("SELECT status, engagement_id FROM requests WHERE request_id = $1", accepted.request_id)
    assert (found["status"], found["engagement_id"]) == ("engagement_opened", opened.engagement_id)
    timeline = await pool.fetch(
        "SELECT status FROM request_timeline WHERE request_id = $1 ORDER BY at", accepted.request_id
    )
    assert [row["status"] for row in timeline] == ["submitted", "engagement_opened"]
