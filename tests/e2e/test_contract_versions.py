"""RequestRouted v1 and v2 across the real broker, both ways: v1 events written to cri.requests as the v1
producer wrote them are read by today's services and consumer (upcast), and the v2 events today's routing
publishes are read by a consumer of v1 (which ignores what it does not know)."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import create_model

from shared.contract import topics
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import AgencySummary, ProviderRef, RequestRouted
from shared.contract.schemas import published_schemas
from shared.runtime.consumer import EventConsumer
from shared.runtime.outbox import UnitOfWork
from shared.runtime.settings import ServiceSettings
from system.access import SETUP
from system.ops import kafka_client
from tests.support import SERVICE, STAFF, eventually, sample_request, topic_records

pytestmark = pytest.mark.e2e


def published_model(model: type[EventData], version: int) -> type[EventData]:
    """The model of an older published version: today's model without the fields later versions added (FULL
    compatibility allows nothing else). Checked against the published schema, so it is that version's code path."""
    published = published_schemas()[f"{model.event_type}.v{version}.json"]
    fields = {
        name: (info.annotation, info) for name, info in model.model_fields.items() if name in published["properties"]
    }
    old = create_model(model.__name__, __base__=model.__mro__[1], __doc__=model.__doc__, **fields)
    old.event_type, old.event_version = model.event_type, version
    assert old.model_json_schema() == published, f"{model.event_type} v{version} is not the published one"
    return old


RequestRoutedV1 = published_model(RequestRouted, 1)


class Applied:
    """A consumer's handler that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[EventData] = []

    async def __call__(self, _uow: UnitOfWork, _envelope: Envelope, event: EventData) -> None:
        self.events.append(event)


@pytest.fixture
async def plumbing_pool(schema_pool, tmp_path: Path):
    return await schema_pool(tmp_path)  # the inbox and outbox only


async def produce(kafka: ServiceSettings, envelope: Envelope) -> tuple[int, int]:
    """Put an envelope on its topic as the outbox relay does (key and event-type header), logged in as `kafka`
    says; (partition, offset)."""
    producer = AIOKafkaProducer(**kafka_client(kafka, acks="all"))
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topics.REQUESTS.name,
            envelope.model_dump_json().encode(),
            key=envelope.key.encode(),
            headers=[("event-type", envelope.type.encode()), ("correlation-id", envelope.correlation_id.encode())],
        )
        return sent.partition, sent.offset
    finally:
        await producer.stop()


async def record_at(kafka: ServiceSettings, partition: int, offset: int) -> ConsumerRecord:
    consumer = AIOKafkaConsumer(**kafka_client(kafka, enable_auto_commit=False))
    await consumer.start()
    try:
        where = TopicPartition(topics.REQUESTS.name, partition)
        consumer.assign([where])
        consumer.seek(where, offset)
        return await consumer.getone()
    finally:
        await consumer.stop()


def routed_v1(request_id: uuid.UUID) -> Envelope:
    """A RequestRouted as the v1 producer published it (a Critical Response that the policy weighed)."""
    event = RequestRoutedV1(
        request_id=request_id,
        tier="critical_response",
        provider=ProviderRef(provider_id="iacp", name="International Association of Chiefs of Police"),
        decided_by="policy",
        policy_version="2026.1",
        rules_fired=[
            "critical_response.recent_event",
            "critical_response.high_profile",
            "precedence.critical_response",
            "organizational_assessment.systemic_concerns",
        ],
        agency=AgencySummary(
            name="Version One PD", type="local", state="IL", sworn_officers=40, population_served=9000
        ),
        urgency="urgent",
        routed_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(event, source="routing", correlation_id=str(request_id))
    assert envelope.version == 1 and "providers_scored" not in envelope.data
    return envelope


async def test_v1_events_written_before_the_change_are_read_by_todays_services_and_consumer(
    system, infra, plumbing_pool
):
    request_id = uuid.uuid4()
    # Written as the v1 producer wrote it: routing, logged in as its own principal (the only writer of it).
    partition, offset = await produce(infra.kafka_settings("cri-routing"), routed_v1(request_id))

    # Today's engagements service opens the engagement from the v1 event.
    async def opened() -> dict[str, Any] | None:
        for record in await topic_records(infra.kafka_settings(SETUP), topics.ENGAGEMENTS.name):
            event = json.loads(record.value)
            if event["type"] == "EngagementOpened" and event["data"]["request_id"] == str(request_id):
                return event["data"]
        return None

    engagement = await eventually(opened, timeout_s=60, what="engagements to open the v1 event's engagement")
    assert (engagement["tier"], engagement["provider"]["provider_id"]) == ("critical_response", "iacp")
    async with httpx.AsyncClient(base_url=system["engagements"].url, headers=STAFF) as client:
        page = (await client.get(f"/v1/engagements/{engagement['engagement_id']}")).json()
    assert (page["agency"]["name"], page["tier"]) == ("Version One PD", "critical_response")

    # Today's consumer reads the same record from the broker as v2, the upcaster filling the explanation.
    applied = Applied()
    consumer = EventConsumer("contract-v2-reader", plumbing_pool, {RequestRouted: applied})
    # Read as a consumer of cri.requests reads it (engagements' principal), not as a super user.
    await consumer.apply_batch([await record_at(infra.kafka_settings("cri-engagements"), partition, offset)])
    (event,) = applied.events
    assert type(event) is RequestRouted
    assert event.candidate_tiers == ["critical_response", "organizational_assessment"]
    assert event.providers_scored == []
    assert await plumbing_pool.fetchval("SELECT count(*) FROM outbox") == 0  # nothing dead-lettered


async def test_v2_events_of_todays_routing_are_read_by_a_v1_consumer(system, infra, plumbing_pool):
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as client:
        answer = await client.post("/v1/requests", json=sample_request())
        request_id = answer.json()["request_id"]

    async def routed() -> ConsumerRecord | None:
        for record in await topic_records(infra.kafka_settings(SETUP), topics.REQUESTS.name):
            if record.key == request_id.encode() and ("event-type", b"RequestRouted") in record.headers:
                return record
        return None

    record = await eventually(routed, timeout_s=60, what="routing to publish RequestRouted")
    published = json.loads(record.value)
    assert published["version"] == 2 and published["data"]["providers_scored"]

    applied = Applied()
    consumer = EventConsumer("contract-v1-reader", plumbing_pool, {RequestRoutedV1: applied})
    await consumer.apply_batch([record])
    (event,) = applied.events
    assert type(event) is RequestRoutedV1 and not hasattr(event, "providers_scored")
    assert (str(event.request_id), event.tier, event.provider.provider_id) == (
        request_id,
        published["data"]["tier"],
        published["data"]["provider"]["provider_id"],
    )
    assert await plumbing_pool.fetchval("SELECT count(*) FROM outbox") == 0  # nothing dead-lettered
