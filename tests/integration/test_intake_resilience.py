"""Intake on a stack of its own (its broker is stopped here): requests accepted while Kafka is down are all
published once it is back, none lost and none doubled; expired idempotency keys are purged in the background."""

import asyncio
import json

import asyncpg
import httpx
import pytest

from shared.contract import topics
from system.access import SETUP
from tests.support import SERVICE, eventually, sample_request, topic_records, unique

pytestmark = pytest.mark.e2e

REQUESTS = 50


@pytest.fixture(scope="module")
def stack(private_system):
    return private_system(("intake",), env={"CRI_IDEMPOTENCY_PURGE_INTERVAL": "PT1S"})


@pytest.fixture(scope="module")
async def stack_db(stack):
    pool = await asyncpg.create_pool(stack.infra.database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def test_requests_accepted_while_the_broker_is_down_are_each_published_once_it_is_back(stack, stack_db):
    stack.infra.broker.stop()
    try:
        async with httpx.AsyncClient(base_url=stack.services["intake"].url, headers=SERVICE, timeout=30) as client:
            responses = [await client.post("/v1/requests", json=sample_request()) for _ in range(REQUESTS)]
        assert {r.status_code for r in responses} == {202}
        request_ids = [r.json()["request_id"] for r in responses]
        waiting = await stack_db.fetchval(
            "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL AND key = ANY($1::text[])", request_ids
        )
        assert waiting == 2 * REQUESTS  # each request's RequestReceived and RequestContactGiven
    finally:
        await asyncio.to_thread(stack.infra.broker.start)

    async def all_published():
        return not await stack_db.fetchval(
            "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL AND key = ANY($1::text[])", request_ids
        )

    await eventually(all_published, timeout_s=120, what="the outbox to drain once the broker is back")
    records = await topic_records(stack.infra.kafka_settings(SETUP), topics.REQUESTS.name)
    submitted = [e for e in map(json.loads, (r.value for r in records)) if e["type"] == "RequestReceived"]
    ours = [e for e in submitted if e["data"]["request_id"] in request_ids]
    assert sorted(e["data"]["request_id"] for e in ours) == sorted(request_ids)
    assert len({e["event_id"] for e in ours}) == REQUESTS


async def test_idempotency_keys_past_their_retention_are_purged_and_fresh_ones_kept(stack, stack_db):
    expired, fresh = unique("expired-key"), unique("fresh-key")
    await stack_db.execute(
        "INSERT INTO intake.idempotency_keys (key, body_sha256, request_id, created_at) VALUES"
        " ($1, '\\x00', gen_random_uuid(), now() - interval '25 hours'), ($2, '\\x00', gen_random_uuid(), now())",
        expired,
        fresh,
    )

    async def purged():
        return not await stack_db.fetchval("SELECT count(*) FROM intake.idempotency_keys WHERE key = $1", expired)

    await eventually(purged, what="the expired key to be purged")
    assert await stack_db.fetchval("SELECT count(*) FROM intake.idempotency_keys WHERE key = $1", fresh) == 1


async def test_a_submission_while_postgresql_is_down_is_refused_with_503_and_accepted_once_when_sent_again(stack):
    postgres = stack.infra.postgres
    body, key = sample_request(), {"Idempotency-Key": unique("while-db-down")}
    async with httpx.AsyncClient(base_url=stack.services["intake"].url, headers=SERVICE, timeout=30) as client:
        await asyncio.to_thread(postgres.stop)
        try:
            refused = await client.post("/v1/requests", json=body, headers=key)
        finally:
            await asyncio.to_thread(postgres.start)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"

        async def accepted():
            answer = await client.post("/v1/requests", json=body, headers=key)
            return answer if answer.status_code == 202 else None

        first = await eventually(accepted, what="intake to accept again once PostgreSQL is back")
        again = await client.post("/v1/requests", json=body, headers=key)
    assert again.json()["request_id"] == first.json()["request_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
