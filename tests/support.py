"""Test helpers: unique sample requests, API keys, and bounded waits (never bare sleeps)."""

import asyncio
import copy
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from shared.contract.requests import EXAMPLE_REQUEST
from shared.runtime.settings import ServiceSettings
from system.ops import kafka_client, partitions_of

T = TypeVar("T")

# The default keys (shared/runtime/auth.py DEV_API_KEYS), which the session system and private systems accept.
STAFF_KEY = "cri-staff-dev-key"
SERVICE_KEY = "cri-service-dev-key"


def auth(key: str) -> dict[str, str]:
    """The headers that present `key`."""
    return {"Authorization": f"Bearer {key}"}


STAFF = auth(STAFF_KEY)
SERVICE = auth(SERVICE_KEY)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sample_request(**overrides: Any) -> dict[str, Any]:
    """A valid CRI-TAC request body with a unique agency, so tests never collide."""
    body = copy.deepcopy(EXAMPLE_REQUEST)
    body["agency"]["name"] = unique(body["agency"]["name"])
    for path, value in overrides.items():
        target = body
        *parents, leaf = path.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return body


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout_s: float = 30.0, what: str = "condition", interval_s: float = 0.2
) -> T:
    """Poll `probe` until it returns a truthy value; fail with `what` once the bound is reached."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last value: {last!r}")


async def topic_records(kafka: ServiceSettings, topic: str) -> list[ConsumerRecord]:
    """Every record of `topic`, from the beginning up to its end as of now, as an outside reader starting from
    nothing sees it (no consumer group, nothing committed), logged in as `kafka` says (the tests' omniscient
    reads: `infra.kafka_settings(SETUP)`)."""
    partitions = await partitions_of(kafka, [topic])
    consumer = AIOKafkaConsumer(**kafka_client(kafka, enable_auto_commit=False))
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()
