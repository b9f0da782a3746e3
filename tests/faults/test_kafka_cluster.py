"""Kafka's durability promise, exercised: on a three-broker cluster (topics replicated three times,
min.insync.replicas=2, producers with acks=all and idempotence), the broker leading the busiest partitions is
SIGKILLed in the middle of a stream of requests, brought back, then the busiest one at that moment is killed too:
once the system has drained, every accepted request was applied exactly once everywhere and got exactly its
notifications."""

import asyncio
import random
from dataclasses import replace
from uuid import uuid4

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from pydantic import SecretStr

from shared.contract import topics
from shared.runtime.broker import ensure_topics, kafka_client_options
from system.access import OPS, SETUP
from system.ops import consumer_lag, kafka_client
from system.stack.kafka_cluster import KafkaCluster
from tests.faults import chaos

pytestmark = pytest.mark.faults

SEED = 17
REQUESTS = 300
RATE = 6.0
GAP_S = (5.0, 8.0)  # normal operation (or running on two brokers) before each step


async def test_every_topic_of_the_catalog_is_on_three_brokers_and_needs_two_in_sync(cluster_system):
    kafka = cluster_system.infra.kafka_settings(SETUP)
    names = tuple(spec.name for spec in topics.CATALOG)
    assert {isr for _, isr in (await chaos.leaders(kafka, names)).values()} == {3}
    admin = AIOKafkaAdminClient(**kafka_client(kafka))
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, {"min.insync.replicas": None}) for name in names]
        )
    finally:
        await admin.close()
    min_insync = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}["min.insync.replicas"]
        for response in described
        for resource in response.resources
    }
    assert min_insync == dict.fromkeys(names, "2")


async def test_every_node_of_the_cluster_asks_for_a_login_and_enforces_the_acls(cluster_system):
    """Secured like the single broker (tests/integration/test_kafka_acls.py), on each node alone: a wrong password
    is refused, a service's principal may not create a topic, cri-setup may."""
    cluster = cluster_system.infra.broker
    assert isinstance(cluster, KafkaCluster)
    for node in cluster.nodes:
        only = {"kafka_bootstrap_servers": node.bootstrap}
        wrong = cluster_system.infra.kafka_settings(OPS).model_copy(
            update={**only, "kafka_sasl_password": SecretStr("not-the-password")}
        )
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(consumer_lag(wrong), timeout=30)
        routing = cluster_system.infra.kafka_settings("cri-routing").model_copy(update=only)
        probe = replace(topics.DEAD_LETTERS, name=f"cri.probe.{uuid4().hex[:8]}")
        with pytest.raises(TopicAuthorizationFailedError):
            await ensure_topics(node.bootstrap, [probe], client_options=kafka_client_options(routing))
    setup = cluster_system.infra.kafka_settings(SETUP)
    assert await ensure_topics(setup.kafka_bootstrap_servers, [probe], client_options=kafka_client_options(setup))


@pytest.mark.timeout(600)
async def test_killing_the_busiest_broker_twice_mid_stream_loses_and_doubles_nothing(cluster_system, capsys):
    faults, killed = chaos.broker_kills(cluster_system, kills=2)
    await chaos.stream_under_faults(
        cluster_system,
        faults,
        random.Random(SEED),
        stream_seed=SEED + 1,
        minimum=REQUESTS,
        rate=RATE,
        gap_s=GAP_S,
        title="three brokers, the busiest SIGKILLed twice",
        capsys=capsys,
    )
    with capsys.disabled():
        print("".join(f"killed broker {node}: it led {led} busy partitions, {n} records\n" for node, led, n in killed))
    assert len(killed) == 2 and killed[0][0] != killed[1][0]  # two different brokers, each the busiest then
