"""A version a consumer cannot read is not lost: it is dead-lettered with the `cri replay` command, and once the
consumer is upgraded, that command (run as printed) has its group read the event again, which is then applied;
what the consumer applied before is not applied twice, and a partition behind the time given is not skipped."""

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contract.envelope import Envelope
from shared.contract.events import RequestQueued
from shared.contract.topics import Cleanup, TopicSpec
from shared.runtime.broker import ensure_topics, kafka_client_options
from shared.runtime.consumer import EventConsumer
from shared.runtime.outbox import UnitOfWork
from shared.runtime.settings import ServiceSettings
from system.access import SETUP
from system.ops import kafka_client, login_env

SERVICE = f"contract-replay-{uuid.uuid4().hex[:8]}"
CRI = str(Path(sys.executable).parent / "cri")


class QueuedReadingV2(RequestQueued):
    """The upgraded consumer's model: it reads version 2, whose `reason` may be absent."""

    event_version = 2
    reason: str | None = None


def queued(version: int, **data: object) -> Envelope:
    payload = {
        "request_id": str(uuid.uuid4()),
        "tier": "cri_tac",
        "reason": "full",
        "queued_at": "2026-12-02T07:00:00Z",
    }
    return Envelope(
        type="RequestQueued", version=version, source="routing", key="k", correlation_id="c", data={**payload, **data}
    )


async def produce(kafka: ServiceSettings, topic: str, placed: list[tuple[int, Envelope, float]]) -> None:
    producer = AIOKafkaProducer(**kafka_client(kafka, acks="all"))
    await producer.start()
    try:
        for partition, envelope, at in placed:
            value = envelope.model_dump_json().encode()
            await producer.send_and_wait(topic, value, partition=partition, timestamp_ms=int(at * 1000))
    finally:
        await producer.stop()


async def consume(
    kafka: ServiceSettings, topic: str, consumer: EventConsumer, partitions: list[int], until: int
) -> None:
    """Read `partitions` in the service's group from its committed offsets, apply, commit: `until` records."""
    reader = AIOKafkaConsumer(
        **kafka_client(
            kafka, group_id=f"cri-{consumer.service}", enable_auto_commit=False, auto_offset_reset="earliest"
        )
    )
    await reader.start()
    try:
        reader.assign([TopicPartition(topic, p) for p in partitions])
        seen = 0
        deadline = time.monotonic() + 30
        while seen < until and time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=500)).values():
                await consumer.apply_batch(records)
                seen += len(records)
            await reader.commit()
        assert seen == until
    finally:
        await reader.stop()


async def commit(kafka: ServiceSettings, topic: str, group: str, offsets: dict[int, int]) -> None:
    reader = AIOKafkaConsumer(**kafka_client(kafka, group_id=group, enable_auto_commit=False))
    await reader.start()
    try:
        reader.assign([TopicPartition(topic, p) for p in offsets])
        await reader.commit({TopicPartition(topic, p): offset for p, offset in offsets.items()})
    finally:
        await reader.stop()


async def test_an_unreadable_version_is_applied_after_upgrade_by_the_replay_command_its_dead_letter_gives(
    infra, schema_pool, tmp_path
):
    # The test's topic and service are none of the catalog's, so they have no principal (nor ACLs) of their own:
    # everything here, the replay command included, logs in as the setup principal (a super user).
    kafka = infra.kafka_settings(SETUP)
    bootstrap = infra.bootstrap_servers
    topic = f"test.contract.{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        bootstrap,
        [TopicSpec(topic, 2, "k", Cleanup.DELETE, None, ("test",), ("test",), "replay test")],
        client_options=kafka_client_options(kafka),
    )
    pool = await schema_pool(tmp_path)  # the inbox and outbox only
    now = time.time()
    before, unreadable, after, lagging = queued(1), queued(2, reason=None), queued(1), queued(1)
    # Partition 0: read by the old consumer. Partition 1: behind (nothing read yet), one event on each side of the
    # time the replay starts from.
    await produce(
        kafka, topic, [(0, before, now - 10), (0, unreadable, now - 5), (1, lagging, now - 10), (1, after, now)]
    )

    applied: list[Envelope] = []

    async def keep(_uow: UnitOfWork, envelope: Envelope, _event: RequestQueued) -> None:
        applied.append(envelope)

    await consume(kafka, topic, EventConsumer(SERVICE, pool, {RequestQueued: keep}), [0], until=2)
    await commit(kafka, topic, f"cri-{SERVICE}", {1: 0})
    assert [e.event_id for e in applied] == [before.event_id]
    (payload,) = [
        row["payload"] for row in await pool.fetch("SELECT payload FROM outbox WHERE topic = 'cri.deadletter'")
    ]
    letter = json.loads(payload)["data"]["reason"]
    assert letter.startswith("RequestQueued version 2 is newer than this consumer reads (1) and does not read as it")
    command = letter.rsplit("replay: ", 1)[1]
    since = datetime.fromtimestamp(int(now - 5), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert command == f"cri replay {topic} {SERVICE} --since {since}"

    # Upgraded, stopped: ops run the command as printed, then the service reads again.
    replayed = subprocess.run(
        [CRI, *command.split()[1:], "--bootstrap", bootstrap],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **login_env(kafka), "COLUMNS": "200"},
    )
    assert replayed.returncode == 0, replayed.stderr
    await consume(kafka, topic, EventConsumer(SERVICE, pool, {QueuedReadingV2: keep}), [0, 1], until=3)
    assert sorted(str(e.event_id) for e in applied) == sorted(
        str(e.event_id) for e in (before, unreadable, lagging, after)
    )  # `before` once, the unreadable one now, and the lagging partition from where it was: nothing skipped
