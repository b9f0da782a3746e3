"""Poison on every consumed topic (bytes that are not JSON, JSON that is not an envelope, an event version no
consumer reads, a payload invalid for its type, a message far larger than anything legitimate): each consumer
dead-letters it on cri.deadletter with its original bytes and a specific reason (intake's inbound topic answers
with a SubmissionRejected instead), and goes on: a request submitted after the poison is processed end to end."""

import asyncio
import base64
import json
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from shared.contract import topics
from shared.contract.envelope import Envelope
from shared.contract.events import EVENT_MODELS
from shared.runtime.consumer import DEAD_LETTER_VALUE_LIMIT
from shared.runtime.settings import ServiceSettings
from system.access import SETUP
from system.ops import kafka_client
from tests.faults import chaos
from tests.support import eventually, sample_request, topic_records

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

# Bigger than any legitimate message (intake refuses bodies over 64 KB), yet under the broker's ~1 MB limit.
OVERSIZED = 900 * 1024


def envelope(event_type: str, version: int, data: dict) -> bytes:
    key = str(uuid.uuid4())
    return (
        Envelope(type=event_type, version=version, source="poison-test", key=key, correlation_id=key, data=data)
        .model_dump_json()
        .encode()
    )


def poisons(event_type: str) -> dict[str, tuple[bytes, str]]:
    """Poison values for a topic whose consumers read `event_type`, with the reason each must be dead-lettered for."""
    return {
        "malformed bytes": (b"\xff\xfe\x00 not json {", "not a valid event envelope: "),
        "JSON that is not an envelope": (b'{"hello": "world"}', "not a valid event envelope: "),
        "newer version that does not read": (
            envelope(event_type, 99, {"request_id": str(uuid.uuid4())}),
            f"{event_type} version 99 is newer than this consumer reads ({EVENT_MODELS[event_type].event_version})",
        ),
        "invalid payload": (envelope(event_type, 1, {"request_id": "not-a-uuid"}), f"invalid {event_type} v1: "),
    }


# Who must dead-letter a poison of each type: every consumer of the topic reads malformed bytes and non-envelopes;
# a well-formed envelope only concerns the consumers that act on its type (the others skip it).
CASES = [
    (topics.REQUESTS.name, "RequestReceived", {"routing", "engagements", "notify"}),
    (topics.REQUEST_CONTACTS.name, "RequestContactGiven", {"engagements", "notify"}),
    (topics.REQUESTS.name, "RequestRouted", {"intake", "engagements", "notify"}),
    (topics.ENGAGEMENTS.name, "EngagementOpened", {"intake", "routing", "notify"}),
    (topics.PEOPLE_LINKS.name, "SignInLinkRequested", {"notify"}),
]
# Every consumer of a topic is who the catalog names (and the Kafka ACLs let read it).
TOPIC_CONSUMERS = {spec.name: set(spec.consumers) for spec in topics.CATALOG}


async def produce(kafka: ServiceSettings, topic: str, values: dict[str, bytes]) -> dict[str, tuple[int, int, bytes]]:
    """Put each value on `topic` under its own key; returns name -> (partition, offset, key)."""
    producer = AIOKafkaProducer(**kafka_client(kafka, acks="all", max_request_size=4 * 1024 * 1024))
    await producer.start()
    try:
        placed = {}
        for name, value in values.items():
            key = f"poison-{uuid.uuid4().hex[:8]}".encode()
            meta = await producer.send_and_wait(topic, value, key=key, headers=[("correlation-id", key)])
            placed[name] = (meta.partition, meta.offset, key)
        return placed
    finally:
        await producer.stop()


async def processed_end_to_end(intake_url: str) -> None:
    """A valid request submitted now is routed and reaches an open engagement."""
    async with httpx.AsyncClient(base_url=intake_url, headers=chaos.AUTH) as client:
        response = await client.post("/v1/requests", json=sample_request())
        assert response.status_code == 202
        status_url = f"/v1/requests/{response.json()['request_id']}"

        async def opened():
            return (await client.get(status_url)).json()["status"] == "engagement_opened"

        await eventually(opened, timeout_s=120, what="a request submitted after the poison to open an engagement")


@pytest.mark.parametrize(("topic", "event_type", "readers"), CASES, ids=[f"{t}:{e}" for t, e, _ in CASES])
async def test_poison_is_dead_lettered_whole_with_its_reason_by_each_consumer_and_consumption_goes_on(
    system, infra, topic, event_type, readers
):
    cases = poisons(event_type)
    placed = await produce(infra.kafka_settings(SETUP), topic, {name: value for name, (value, _) in cases.items()})
    expected = {
        (name, consumer)
        for name in cases
        for consumer in (
            readers if name in ("newer version that does not read", "invalid payload") else TOPIC_CONSUMERS[topic]
        )
    }
    where = {(topic, partition, offset): name for name, (partition, offset, _) in placed.items()}
    letters: dict[tuple[str, str], dict] = {}

    async def all_dead_lettered():
        for record in await topic_records(infra.kafka_settings(SETUP), topics.DEAD_LETTERS.name):
            data = json.loads(record.value)["data"]
            name = where.get((data["source_topic"], data["source_partition"], data["source_offset"]))
            if name is not None:
                letters.setdefault((name, data["consumer"]), data)
        return expected <= set(letters)

    await eventually(all_dead_lettered, timeout_s=60, what=f"dead letters {sorted(expected - set(letters))}")
    assert set(letters) == expected  # and no consumer that skips the type dead-letters it
    for (name, _consumer), letter in letters.items():
        value, reason = cases[name]
        assert base64.b64decode(letter["original_value_b64"]) == value
        assert base64.b64decode(letter["original_key_b64"]) == placed[name][2]
        assert letter["reason"].startswith(reason), (name, letter["reason"])
    await processed_end_to_end(system["intake"].url)


async def test_poison_on_the_inbound_topic_is_answered_with_a_rejection_each_and_intake_goes_on(system, infra):
    values = {
        "malformed bytes": b"\xff\xfe\x00 not json {",
        "JSON that is not a request": b'{"hello": "world"}',
        "an event envelope": envelope("RequestReceived", 99, {"request_id": str(uuid.uuid4())}),
        "invalid request": json.dumps(sample_request(agency__state="ZZ")).encode(),
        "oversized": json.dumps(sample_request(assistance__description="x" * OVERSIZED)).encode(),
    }
    placed = await produce(infra.kafka_settings(SETUP), topics.INBOUND_SUBMISSIONS.name, values)
    keys = {key.decode(): name for name, (_, _, key) in placed.items()}
    answers: dict[str, dict] = {}

    async def all_rejected():
        for record in await topic_records(infra.kafka_settings(SETUP), topics.INBOUND_REJECTIONS.name):
            event = json.loads(record.value)
            name = keys.get(event["data"]["submission_key"])
            if name is not None and event["type"] == "SubmissionRejected":
                answers[name] = event["data"]
        return set(answers) == set(values)

    await eventually(all_rejected, timeout_s=60, what="a rejection for every poison submission")
    assert all(answer["errors"] for answer in answers.values())
    assert answers["oversized"]["errors"][0]["type"] == "too_large"
    assert answers["malformed bytes"]["errors"][0]["type"] == "json_invalid"
    assert {key: answers[name]["publisher_correlation_id"] for key, name in keys.items()} == {k: k for k in keys}
    await processed_end_to_end(system["intake"].url)


async def test_a_message_over_the_brokers_size_limit_is_refused_to_its_producer_by_name(infra):
    with pytest.raises(MessageSizeTooLargeError):
        await produce(infra.kafka_settings(SETUP), topics.REQUESTS.name, {"2 MB": b"x" * (2 * 1024 * 1024)})


async def test_an_oversized_message_is_dead_lettered_truncated_by_each_consumer_and_consumption_goes_on(private_system):
    # On a system of its own: were a dead letter too big to publish, it would hold up the outbox of every consumer
    # that read it; so a dead letter keeps only the first DEAD_LETTER_VALUE_LIMIT bytes and says so.
    own = await asyncio.to_thread(private_system)
    kafka = own.infra.kafka_settings(SETUP)
    value = b"x" * OVERSIZED
    [(partition, offset, _)] = (await produce(kafka, topics.REQUESTS.name, {"oversized": value})).values()
    letters: dict[str, dict] = {}

    async def all_dead_lettered():
        for record in await topic_records(kafka, topics.DEAD_LETTERS.name):
            data = json.loads(record.value)["data"]
            if (data["source_topic"], data["source_partition"], data["source_offset"]) == (
                topics.REQUESTS.name,
                partition,
                offset,
            ):
                letters[data["consumer"]] = data
        return set(letters) == TOPIC_CONSUMERS[topics.REQUESTS.name]

    await eventually(all_dead_lettered, timeout_s=120, what="every consumer to dead-letter the oversized message")
    for letter in letters.values():
        assert (letter["original_size"], letter["truncated"]) == (len(value), True)
        assert base64.b64decode(letter["original_value_b64"]) == value[:DEAD_LETTER_VALUE_LIMIT]
    await processed_end_to_end(own.services["intake"].url)
