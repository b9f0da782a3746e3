"""Apache Kafka with SASL/SCRAM and the StandardAuthorizer: principal by principal, what the broker lets each do
and what it refuses. On a broker of its own (no services): the refused writes must not reach anyone, and the
allowed ones would be dead letters for services that read them."""

import asyncio
import os
from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
    for_code,
)
from pydantic import SecretStr

from shared.contract import topics
from shared.contract.envelope import Envelope
from shared.contract.events import AgencySummary, ProviderRef, RequestRouted
from shared.contract.topics import CATALOG
from shared.contract.vocabulary import AgencyType, Tier, Urgency
from shared.runtime.broker import ensure_topics, kafka_client_options
from shared.runtime.settings import ServiceSettings
from system.access import DASHBOARD, OPS, PUBLISHER, SETUP, Acl, Operation, Resource, acls, allowed, create_acls
from system.ops import consumer_lag, kafka_client, rewind_group
from system.stack.runner import Infrastructure

pytestmark = pytest.mark.skipif(
    os.environ.get("CRI_EMBEDDED_BROKER") == "tansu" or bool(os.environ.get("CRI_KAFKA_BOOTSTRAP_SERVERS")),
    reason="needs the embedded Apache Kafka with its authorizer (tansu has none)",
)
RULES = acls()
PRINCIPALS = sorted({rule.principal for rule in RULES})


@pytest.fixture(scope="module")
def kafka(private_system) -> Infrastructure:
    return private_system(()).infra


async def write(kafka: ServiceSettings, topic: str, value: bytes = b"{}") -> None:
    producer = AIOKafkaProducer(**kafka_client(kafka, acks="all", request_timeout_ms=10_000))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=uuid4().bytes)
    finally:
        await producer.stop()


async def read(kafka: ServiceSettings, topic: str, group: str | None = None) -> None:
    """Fetch from partition 0 (without a group), or join `group` on the topic; raises what the broker refuses.

    A topic the principal may not even describe is one aiokafka's consumer waits for in silence (its metadata
    never comes), so the broker's answer to a metadata request for it is asked first.
    """
    admin = AIOKafkaAdminClient(**kafka_client(kafka))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"]:
        raise for_code(described["error_code"])(topic)
    consumer = AIOKafkaConsumer(**kafka_client(kafka, group_id=group, enable_auto_commit=False))
    await consumer.start()
    try:
        if group is None:
            consumer.assign([TopicPartition(topic, 0)])
        else:
            consumer.subscribe([topic])
        await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()


async def outcome(action) -> str:
    try:
        await action
    except (TopicAuthorizationFailedError, GroupAuthorizationFailedError) as refused:
        return type(refused).__name__
    return "allowed"


@pytest.mark.parametrize("operation", [Operation.WRITE, Operation.READ], ids=lambda operation: operation.name)
@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_each_principal_writes_and_reads_exactly_the_topics_the_catalog_gives_it(kafka, principal, operation):
    login = kafka.kafka_settings(principal)
    act = write if operation is Operation.WRITE else read
    found = {spec.name: await outcome(act(login, spec.name)) for spec in CATALOG}
    expected = {
        spec.name: "allowed"
        if allowed(principal, operation, Resource.TOPIC, spec.name, RULES)
        else "TopicAuthorizationFailedError"
        for spec in CATALOG
    }
    assert found == expected


def _routed() -> bytes:
    routed = RequestRouted(
        request_id=uuid4(),
        tier=Tier.CRITICAL_RESPONSE,
        provider=ProviderRef(provider_id="iacp", name="International Association of Chiefs of Police"),
        decided_by="staff",
        agency=AgencySummary(
            name="Forged PD", type=AgencyType.LOCAL, state="IL", sworn_officers=1, population_served=1
        ),
        urgency=Urgency.ROUTINE,
        routed_at=datetime.now(UTC),
    )
    return Envelope.wrap(routed, source="routing", correlation_id=str(routed.request_id)).model_dump_json().encode()


async def test_a_forged_request_routed_from_the_publisher_is_refused_by_the_broker(kafka):
    with pytest.raises(TopicAuthorizationFailedError):
        await write(kafka.kafka_settings(PUBLISHER), topics.REQUESTS.name, _routed())
    await write(kafka.kafka_settings("cri-routing"), topics.REQUESTS.name, _routed())  # routing's own event


async def test_the_dashboard_reads_engagement_state_and_not_requests(kafka):
    dashboard = kafka.kafka_settings(DASHBOARD)
    await read(dashboard, topics.ENGAGEMENT_STATE.name, group=f"{DASHBOARD}-wall")
    with pytest.raises(TopicAuthorizationFailedError):
        await read(dashboard, topics.REQUESTS.name)


async def test_a_service_cannot_join_another_services_group(kafka):
    routing = kafka.kafka_settings("cri-routing")
    await read(routing, topics.REQUESTS.name, group="cri-routing")
    for group in ("cri-engagements", "cri-intake", "cri-intake-inbound", "cri-notify"):
        with pytest.raises(GroupAuthorizationFailedError):
            await read(routing, topics.REQUESTS.name, group=group)


async def test_intake_uses_its_inbound_group_and_the_publisher_only_its_own(kafka):
    await read(kafka.kafka_settings("cri-intake"), topics.INBOUND_SUBMISSIONS.name, group="cri-intake-inbound")
    publisher = kafka.kafka_settings(PUBLISHER)
    await read(publisher, topics.INBOUND_REJECTIONS.name, group=f"{PUBLISHER}-state-portal")
    with pytest.raises(GroupAuthorizationFailedError):
        await read(publisher, topics.INBOUND_REJECTIONS.name, group="cri-intake-inbound")


async def test_ops_sees_every_groups_lag_and_reads_dead_letters_only(kafka):
    await rewind_group(kafka.kafka_settings("cri-notify"), "cri-notify", topics.REQUESTS.name, offset=0)  # commits
    ops = kafka.kafka_settings(OPS)
    lag = await consumer_lag(ops)
    assert {row.group for row in lag} >= {"cri-notify"}
    await read(ops, topics.DEAD_LETTERS.name)
    with pytest.raises(TopicAuthorizationFailedError):
        await read(ops, topics.REQUESTS.name)
    with pytest.raises(GroupAuthorizationFailedError):  # seeing a group's offsets is not moving them
        await rewind_group(ops, "cri-notify", topics.REQUESTS.name, offset=0)


async def test_a_service_rewinds_its_own_group_only(kafka):
    engagements = kafka.kafka_settings("cri-engagements")
    moved = await rewind_group(engagements, "cri-engagements", topics.REQUESTS.name, offset=0)
    assert set(moved.values()) == {0}
    with pytest.raises(GroupAuthorizationFailedError):
        await rewind_group(engagements, "cri-routing", topics.REQUESTS.name, offset=0)


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_only_the_setup_principal_creates_topics_and_acls(kafka, principal):
    login = kafka.kafka_settings(principal)
    probe = replace(topics.DEAD_LETTERS, name=f"cri.probe.{uuid4().hex[:8]}")
    with pytest.raises(TopicAuthorizationFailedError):
        await ensure_topics(login.kafka_bootstrap_servers, [probe], client_options=kafka_client_options(login))
    rule = Acl(principal, Operation.READ, Resource.TOPIC, topics.REQUESTS.name)
    with pytest.raises(Exception, match="Authorization"):
        await create_acls(kafka_client(login), [rule], timeout_s=2)
    setup = kafka.kafka_settings(SETUP)
    assert await ensure_topics(setup.kafka_bootstrap_servers, [probe], client_options=kafka_client_options(setup))


async def test_a_wrong_password_is_not_let_in(kafka, caplog):
    wrong = kafka.kafka_settings(OPS).model_copy(update={"kafka_sasl_password": SecretStr("not-the-password")})
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(consumer_lag(wrong), timeout=30)
    assert "invalid credentials" in caplog.text
