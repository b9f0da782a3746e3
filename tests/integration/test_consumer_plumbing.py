"""The delivery plumbing on a real PostgreSQL: inbox, outbox and dead letters, exactly once in effect."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from shared.contract.envelope import Envelope
from shared.contract.events import RequestQueued
from shared.runtime.consumer import DEAD_LETTER_VALUE_LIMIT, EventConsumer, RejectEvent
from shared.runtime.db import create_pool, migrate
from shared.runtime.outbox import UnitOfWork, purge_published, unit_of_work


@pytest.fixture
async def pool(infra, tmp_path: Path):
    schema = f"plumbing_{uuid.uuid4().hex[:8]}"
    await migrate(infra.database_url, schema, tmp_path)  # no migrations of its own: the plumbing's only
    pool = await create_pool(infra.database_url, schema, 2)
    await pool.execute("CREATE TABLE applied (request_id uuid, reason text)")
    yield pool
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


async def record_queued(uow: UnitOfWork, envelope: Envelope, event: RequestQueued) -> None:
    if event.reason == "poison":
        raise RejectEvent("this request cannot be queued")
    await uow.conn.execute("INSERT INTO applied VALUES ($1, $2)", event.request_id, event.reason)


def queued(reason: str = "full") -> Envelope:
    event = RequestQueued(request_id=uuid.uuid4(), tier="cri_tac", reason=reason, queued_at=datetime.now(UTC))
    return Envelope.wrap(event, source="test", correlation_id="c")


def record_of(value: bytes, offset: int) -> ConsumerRecord:
    return ConsumerRecord("cri.requests", 0, offset, 0, 0, b"k", value, None, len(b"k"), len(value), [])


def records(*values: bytes) -> list[ConsumerRecord]:
    return [record_of(value, offset) for offset, value in enumerate(values)]


async def dead_letters(pool: asyncpg.Pool) -> list[dict]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = 'cri.deadletter' ORDER BY id")
    return [json.loads(row["payload"])["data"] for row in rows]


async def test_a_redelivered_batch_has_no_second_effect(pool):
    consumer = EventConsumer("test", pool, {RequestQueued: record_queued})
    batch = records(queued().model_dump_json().encode(), queued().model_dump_json().encode())
    await consumer.apply_batch(batch)
    await consumer.apply_batch(batch)
    assert await pool.fetchval("SELECT count(*) FROM applied") == 2


async def test_the_same_event_twice_in_one_batch_applies_once(pool):
    consumer = EventConsumer("test", pool, {RequestQueued: record_queued})
    value = queued().model_dump_json().encode()
    await consumer.apply_batch(records(value, value))
    assert await pool.fetchval("SELECT count(*) FROM applied") == 1


async def test_one_failing_event_is_dead_lettered_and_the_rest_of_its_batch_applied(pool):
    consumer = EventConsumer("test", pool, {RequestQueued: record_queued})
    batch = records(*(queued(reason).model_dump_json().encode() for reason in ("full", "poison", "full")))
    await consumer.apply_batch(batch)
    await consumer.apply_batch(batch)  # redelivered: neither a second effect nor a second dead letter
    assert await pool.fetchval("SELECT count(*) FROM applied") == 2
    (letter,) = await dead_letters(pool)
    assert (letter["source_offset"], letter["reason"]) == (1, "this request cannot be queued")


async def test_bytes_that_are_not_an_envelope_are_dead_lettered_with_the_original_bytes(pool):
    consumer = EventConsumer("test", pool, {RequestQueued: record_queued})
    await consumer.apply_batch(records(b"\x00not json", queued().model_dump_json().encode()))
    (letter,) = await dead_letters(pool)
    assert letter["reason"].startswith("not a valid event envelope")
    assert letter["original_value_b64"] == "AG5vdCBqc29u"
    assert await pool.fetchval("SELECT count(*) FROM applied") == 1


async def test_a_newer_compatible_version_with_unknown_fields_is_applied(pool):
    consumer = EventConsumer("test", pool, {RequestQueued: record_queued})
    event = queued()
    newer = event.model_copy(update={"version": 2, "data": {**event.data, "expected_wait_days": 12}})
    await consumer.apply_batch(records(newer.model_dump_json().encode()))
    assert await pool.fetchval("SELECT reason FROM applied") == "full"
    assert await dead_letters(pool) == []


async def test_a_newer_version_that_does_not_read_is_dead_lettered_with_the_command_that_replays_it(pool):
    consumer = EventConsumer("test", pool, {RequestQueued: record_queued})
    event = queued()
    newer = event.model_copy(update={"version": 3, "data": {**event.data, "reason": None}})
    record = record_of(newer.model_dump_json().encode(), 7)
    record.timestamp = int(datetime(2026, 12, 2, 7, 30, 15, 500_000, tzinfo=UTC).timestamp() * 1000)
    await consumer.apply_batch([record])
    (letter,) = await dead_letters(pool)
    assert letter["reason"].startswith("RequestQueued version 3 is newer than this consumer reads (1)")
    assert letter["reason"].endswith("replay: cri replay cri.requests test --since 2026-12-02T07:30:15")
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0  # nothing applied: the replay will apply it


async def test_events_of_other_types_on_the_topic_are_skipped(pool):
    consumer = EventConsumer("test", pool, {})
    await consumer.apply_batch(records(queued().model_dump_json().encode()))
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0
    assert await dead_letters(pool) == []


async def test_records_whose_event_type_header_names_another_event_are_skipped_unparsed(pool):
    consumer = EventConsumer("test", pool, {RequestQueued: record_queued})
    other = record_of(b"not even json", 0)
    other.headers.append(("event-type", b"NotificationSent"))
    await consumer.apply_batch([other])
    assert await dead_letters(pool) == []


async def test_a_huge_poison_message_is_dead_lettered_truncated_so_the_letter_still_fits(pool):
    consumer = EventConsumer("test", pool, {RequestQueued: record_queued})
    huge = b"x" * (DEAD_LETTER_VALUE_LIMIT * 3)
    await consumer.apply_batch(records(huge))
    (letter,) = await dead_letters(pool)
    assert (letter["original_size"], letter["truncated"]) == (len(huge), True)
    assert len(base64.b64decode(letter["original_value_b64"])) == DEAD_LETTER_VALUE_LIMIT


async def test_published_events_are_purged_after_they_are_kept_a_while_and_unpublished_ones_never(pool):
    async with pool.acquire() as conn:
        for age, published in ((timedelta(days=2), True), (timedelta(hours=1), True), (timedelta(days=2), False)):
            await conn.execute(
                "INSERT INTO outbox (event_id, topic, key, payload, created_at, published_at)"
                " VALUES ($1, 'cri.requests', 'k', '{}', now() - $2::interval,"
                " CASE WHEN $3 THEN now() - $2::interval END)",
                uuid.uuid4(),
                age,
                published,
            )
        assert await purge_published(conn, timedelta(days=1)) == 1
        left = await conn.fetch("SELECT published_at IS NULL AS waiting FROM outbox ORDER BY created_at")
    assert [row["waiting"] for row in left] == [True, False]


async def test_after_commit_callbacks_run_once_the_work_commits_and_never_when_it_rolls_back(pool):
    called: list[str] = []
    async with unit_of_work(pool) as uow:
        uow.after_commit(lambda: called.append("committed"))
        assert called == []
    with pytest.raises(RuntimeError):
        async with unit_of_work(pool) as uow:
            uow.after_commit(lambda: called.append("rolled back"))
            raise RuntimeError("the work failed")
    assert called == ["committed"]
