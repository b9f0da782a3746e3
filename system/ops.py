"""Operations on a running system's topics: lag per consumer group, live tail, replay from an offset or time."""

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contract.envelope import Envelope
from shared.contract.topics import CATALOG

STACK_FILE = Path(".cri") / "stack.json"


def running_stack(path: Path = STACK_FILE) -> dict:
    """What `cri up` wrote about the running system (bootstrap servers, service URLs), or {}."""
    return json.loads(path.read_text()) if path.exists() else {}


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


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="cri-ops")
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


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    partitions = await partitions_of(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await _stop(consumer)


async def consumer_lag(bootstrap: str) -> list[GroupLag]:
    """Committed offset and end of every partition each consumer group reads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="cri-ops")
    await admin.start()
    try:
        groups = sorted(group for group, *_ in await admin.list_consumer_groups())
        committed = {group: await admin.list_consumer_group_offsets(group) for group in groups}
    finally:
        await admin.close()
    ends = await end_offsets(bootstrap, sorted({tp.topic for offsets in committed.values() for tp in offsets}))
    return [
        GroupLag(group, tp.topic, tp.partition, meta.offset, ends.get(tp, meta.offset))
        for group, offsets in committed.items()
        for tp, meta in sorted(offsets.items())
    ]


async def tail(
    bootstrap: str, topics: Sequence[str], *, from_beginning: bool
) -> AsyncIterator[tuple[str, int, Envelope | bytes]]:
    """Events as they arrive (no consumer group, nothing committed): (topic, partition, envelope or raw bytes)."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest" if from_beginning else "latest"
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
    bootstrap: str, group: str, topic: str, *, offset: int | None = None, since: datetime | None = None
) -> dict[int, int]:
    """Move a (stopped) service's consumer group back on `topic` to an offset or to the first record at or after
    a time; when the service starts again it reads from there. Its inbox makes this safe: events it has
    already applied are skipped, events it missed are applied. A partition is never moved forward (records not
    yet read are never skipped). A time without a zone is UTC. Returns partition -> new offset."""
    if (offset is None) == (since is None):
        raise ValueError("give exactly one of offset or since")
    partitions = await partitions_of(bootstrap, [topic])
    if not partitions:
        raise ValueError(f"no topic {topic!r} on {bootstrap}")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
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


def catalog_topics() -> list[str]:
    return [spec.name for spec in CATALOG]
