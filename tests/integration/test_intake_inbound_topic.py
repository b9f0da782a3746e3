"""Intake's inbound topic over the real broker: valid messages are accepted as if posted, invalid ones are
answered on the rejection topic with the publisher's correlation id and field errors, and the consumer goes on."""

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.contract import topics
from system.access import PUBLISHER
from system.ops import kafka_client
from tests.support import eventually, sample_request, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def publish(infra, system):  # system: intake must be running to consume
    producer = AIOKafkaProducer(**kafka_client(infra.kafka_settings(PUBLISHER)))
    await producer.start()

    async def send(value: bytes, *, key: str, **headers: str) -> None:
        await producer.send_and_wait(
            topics.INBOUND_SUBMISSIONS.name,
            value,
            key=key.encode(),
            headers=[(name.replace("_", "-"), v.encode()) for name, v in headers.items()],
        )

    yield send
    await producer.stop()


async def _requests_of(db, agency_name: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT request_id, channel, status FROM intake.requests WHERE body->'agency'->>'name' = $1", agency_name
    )
    return [dict(row) for row in rows]


async def test_a_valid_inbound_message_is_accepted_through_the_kafka_channel_and_routed(publish, db):
    body, correlation_id = sample_request(), unique("corr")

    await publish(json.dumps(body).encode(), key=unique("ref"), correlation_id=correlation_id)

    async def routed():
        rows = await _requests_of(db, body["agency"]["name"])
        return rows if rows and rows[0]["status"] != "submitted" else None

    [row] = await eventually(routed, what="the inbound request to be accepted and routed")
    assert row["channel"] == "kafka"
    assert row["status"] in {"routed", "engagement_opened"}
    submitted = await db.fetchval(
        "SELECT headers->>'correlation-id' FROM intake.outbox"
        " WHERE key = $1 AND headers->>'event-type' = 'RequestReceived'",
        str(row["request_id"]),
    )
    assert submitted == correlation_id


async def test_invalid_inbound_messages_are_answered_with_field_errors_and_the_consumer_goes_on(publish, db, infra):
    malformed, wrong_type = unique("corr-malformed"), unique("corr-wrong-type")
    valid_after = sample_request()

    await publish(b'{"agency": {"name": ', key=unique("ref"), correlation_id=malformed)
    await publish(
        json.dumps(sample_request(agency__sworn_officers="many")).encode(), key=unique("ref"), correlation_id=wrong_type
    )
    await publish(json.dumps(valid_after).encode(), key=unique("ref"), correlation_id=unique("corr"))

    rejections = await _rejections_for(infra, {malformed, wrong_type})
    [not_json] = rejections[malformed]["data"]["errors"]
    assert not_json["type"] == "json_invalid"
    [wrong] = rejections[wrong_type]["data"]["errors"]
    assert (wrong["loc"], wrong["type"]) == (["agency", "sworn_officers"], "int_parsing")
    assert rejections[wrong_type]["type"] == "SubmissionRejected"
    assert rejections[wrong_type]["correlation_id"] == wrong_type

    async def accepted():
        return await _requests_of(db, valid_after["agency"]["name"])

    [row] = await eventually(accepted, what="the valid message after the bad ones to be accepted")
    assert row["channel"] == "kafka"


async def test_a_message_published_twice_with_one_idempotency_key_is_accepted_once(publish, db):
    body, key, reference = sample_request(), unique("idem"), unique("ref")
    sentinel = sample_request()

    await publish(json.dumps(body).encode(), key=reference, idempotency_key=key)
    await publish(json.dumps(body).encode(), key=reference, idempotency_key=key)
    # Same record key, same partition: once the sentinel is in, both copies before it have been applied.
    await publish(json.dumps(sentinel).encode(), key=reference)

    async def sentinel_accepted():
        return await _requests_of(db, sentinel["agency"]["name"])

    await eventually(sentinel_accepted, what="the sentinel message to be accepted")
    [row] = await _requests_of(db, body["agency"]["name"])
    events = await db.fetchval(
        "SELECT count(*) FROM intake.outbox WHERE key = $1 AND headers->>'event-type' = 'RequestReceived'",
        str(row["request_id"]),
    )
    assert events == 1


async def _rejections_for(infra, correlation_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The rejection envelopes for `correlation_ids`, read by a fresh consumer group from the earliest offset."""
    consumer = AIOKafkaConsumer(
        topics.INBOUND_REJECTIONS.name,
        **kafka_client(infra.kafka_settings(PUBLISHER), group_id=unique(PUBLISHER), auto_offset_reset="earliest"),
    )
    await consumer.start()
    found: dict[str, dict[str, Any]] = {}
    try:

        async def all_found():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    envelope = json.loads(record.value)
                    if envelope["data"]["publisher_correlation_id"] in correlation_ids:
                        found[envelope["data"]["publisher_correlation_id"]] = envelope
            return found.keys() == correlation_ids

        await eventually(all_found, what=f"rejections for {sorted(correlation_ids)}")
    finally:
        await consumer.stop()
    return found
