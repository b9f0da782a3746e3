"""Operations on a running system's topics: lag per consumer group, live tail, replay from an offset or time.

Each takes the Kafka settings of the principal it runs as: ops reads lag and dead letters, a service replays
its own group (system/access.py)."""

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contract.envelope import Envelope
from shared.contract.topics import CATALOG
from shared.runtime.broker import ensure_topics, kafka_client_options
from shared.runtime.settings import ServiceSettings
from system.access import OPS, Acl, Operation, Resource, acls, allowed, create_acls
from system.stack.kafka import SASL_MECHANISM

STACK_FILE = Path(".cri") / "stack.json"


def running_stack(path: Path = STACK_FILE) -> dict:
    """What `cri up` wrote about the running system (bootstrap servers, Kafka logins, service URLs), or {}."""
    return json.loads(path.read_text()) if path.exists() else {}


def login(bootstrap: str, users: Mapping[str, str], principal: str) -> ServiceSettings:
    """The Kafka settings of `principal` on a broker whose SCRAM logins are `users` (none: tansu, anonymous)."""
    if not users:
        return ServiceSettings(kafka_bootstrap_servers=bootstrap)
    return ServiceSettings(
        kafka_bootstrap_servers=bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=SASL_MECHANISM,
        kafka_sasl_username=principal,
        kafka_sasl_password=users[principal],
    )


def login_env(kafka: ServiceSettings) -> dict[str, str]:
    """The CRI_KAFKA_* variables that log a process (a service, `cri`, a benchmark hop) in as `kafka` says."""
    env = {
        "CRI_KAFKA_BOOTSTRAP_SERVERS": kafka.kafka_bootstrap_servers,
        "CRI_KAFKA_SECURITY_PROTOCOL": kafka.kafka_security_protocol,
        "CRI_KAFKA_SASL_MECHANISM": kafka.kafka_sasl_mechanism,
    }
    if kafka.kafka_sasl_username is not None and kafka.kafka_sasl_password is not None:
        env["CRI_KAFKA_SASL_USERNAME"] = kafka.kafka_sasl_username
        env["CRI_KAFKA_SASL_PASSWORD"] = kafka.kafka_sasl_password.get_secret_value()
    return env


def kafka_client(kafka: ServiceSettings, **options: Any) -> dict[str, Any]:
    """Keyword arguments of an aiokafka client (consumer, producer, admin) logged in as `kafka` says."""
    return {"bootstrap_servers": kafka.kafka_bootstrap_servers, **kafka_client_options(kafka), **options}


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


async def _stop(consumer: AIOKafkaConsumer) -> None:
    # aiokafka 0.14: stopping a consumer without a group re-raises the cancellation of its own internal task.
    with suppress(asyncio.CancelledError):
        await consumer.stop()


async def setup_kafka(kafka: ServiceSettings) -> tuple[list[str], list[Acl]]:
    """What the setup job does on Kafka, as the setup principal: create the catalog's missing topics, then,
    where clients log in (SASL), their ACLs. Returns the topics created and the ACLs in force."""
    created = await ensure_topics(kafka.kafka_bootstrap_servers, client_options=kafka_client_options(kafka))
    rules = acls() if kafka.kafka_security_protocol.startswith("SASL") else []
    if rules:
        await create_acls(kafka_client(kafka), rules)
    return created, rules


async def partitions_of(kafka: ServiceSettings, topics: Sequence[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**kafka_client(kafka, client_id="cri-ops"))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics)) if topics else []
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["error_code"] == 0
        for partition in sorted(topic["partitions"], key=lambda p: p["partition"])
    ]


async def end_offsets(kafka: ServiceSettings, topics: Sequence[str]) -> dict[TopicPartition, int]:
    partitions = await partitions_of(kafka, topics)
    consumer = AIOKafkaConsumer(**kafka_client(kafka, enable_auto_commit=False))
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await _stop(consumer)


async def consumer_lag(kafka: ServiceSettings) -> list[GroupLag]:
    """Committed offset and end of every partition each consumer group reads (as ops: every group it may see)."""
    admin = AIOKafkaAdminClient(**kafka_client(kafka, client_id="cri-ops"))
    await admin.start()
    try:
        groups = sorted(group for group, *_ in await admin.list_consumer_groups())
        committed = {group: await admin.list_consumer_group_offsets(group) for group in groups}
    finally:
        await admin.close()
    ends = await end_offsets(kafka, sorted({tp.topic for offsets in committed.values() for tp in offsets}))
    return [
        GroupLag(group, tp.topic, tp.partition, meta.offset, ends.get(tp, meta.offset))
        for group, offsets in committed.items()
        for tp, meta in sorted(offsets.items())
    ]


async def tail(
    kafka: ServiceSettings, topics: Sequence[str], *, from_beginning: bool
) -> AsyncIterator[tuple[str, int, Envelope | bytes]]:
    """Events as they arrive (no consumer group, nothing committed): (topic, partition, envelope or raw bytes)."""
    consumer = AIOKafkaConsumer(
        *topics, **kafka_client(kafka, auto_offset_reset="earliest" if from_beginning else "latest")
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                yield record.topic, record.partition, Envelope.model_validate_json(record.value or b"", extra="ignore")
            except ValueError:
                yield record.topic, record.partition, record.value or b""
    finally:
        await _stop(consumer)


async def rewind_group(
    kafka: ServiceSettings, group: str, topic: str, *, offset: int | None = None, since: datetime | None = None
) -> dict[int, int]:
    """Move a (stopped) service's consumer group back on `topic` to an offset or to the first record at or after
    a time; when the service starts again it reads from there. Its inbox makes this safe: events it has
    already applied are skipped, events it missed are applied. A partition is never moved forward (records not
    yet read are never skipped). A time without a zone is UTC. Returns partition -> new offset."""
    if (offset is None) == (since is None):
        raise ValueError("give exactly one of offset or since")
    partitions = await partitions_of(kafka, [topic])
    if not partitions:
        raise ValueError(f"no topic {topic!r} on {kafka.kafka_bootstrap_servers} (or not readable by this principal)")
    consumer = AIOKafkaConsumer(**kafka_client(kafka, group_id=group, enable_auto_commit=False))
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        if since is not None:
            at = since if since.tzinfo else since.replace(tzinfo=UTC)
            found = await consumer.offsets_for_times({tp: int(at.timestamp() * 1000) for tp in partitions})
            targets = {tp: (found[tp].offset if found[tp] else ends[tp]) for tp in partitions}
        else:
            targets = {tp: min(offset, ends[tp]) for tp in partitions}
        for tp in partitions:
            committed = await consumer.committed(tp)
            if committed is not None:
                targets[tp] = min(targets[tp], committed)
        consumer.assign(partitions)
        await consumer.commit(targets)
        return {tp.partition: position for tp, position in targets.items()}
    finally:
        await consumer.stop()


def ops_topics() -> list[str]:
    """The topics the ops principal may read (`cri watch`'s default)."""
    rules = acls()
    return [spec.name for spec in CATALOG if allowed(OPS, Operation.READ, Resource.TOPIC, spec.name, rules)]
