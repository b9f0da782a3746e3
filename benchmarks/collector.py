"""Reads the pipeline's own events (cri.requests, cri.engagements, cri.notifications) and records, per
correlation id, when each request passed each point: the envelopes' occurred_at and the records' timestamps."""

import asyncio
import json
from collections import defaultdict
from contextlib import suppress
from datetime import datetime

from aiokafka import AIOKafkaConsumer

from benchmarks.stats import Trace
from shared.contract.topics import ENGAGEMENTS, NOTIFICATIONS, REQUESTS
from shared.runtime.settings import ServiceSettings
from system.ops import kafka_client, partitions_of

# Event type -> the Trace fields it fills (occurred_at, record timestamp).
_POINTS = {
    "RequestReceived": ("submitted", "submitted_ts"),
    "RequestRouted": ("routed", "routed_ts"),
    "EngagementOpened": ("opened", "opened_ts"),
}


class EventCollector:
    def __init__(self, kafka: ServiceSettings) -> None:
        self._kafka = kafka
        self.traces: dict[str, Trace] = defaultdict(Trace)
        self.submitted_sizes: list[int] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start reading at the end of each topic, so only events from now on are counted."""
        self._consumer = AIOKafkaConsumer(
            **kafka_client(self._kafka, enable_auto_commit=False, client_id="cri-bench-collector")
        )
        await self._consumer.start()
        partitions = await partitions_of(self._kafka, [REQUESTS.name, ENGAGEMENTS.name, NOTIFICATIONS.name])
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self._consumer.position(tp)  # resolve now, before any request is sent
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            with suppress(asyncio.CancelledError):
                await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    self._record(record.value, record.timestamp / 1000)

    def _record(self, value: bytes, timestamp: float) -> None:
        envelope = json.loads(value)
        kind = envelope["type"]
        occurred = datetime.fromisoformat(envelope["occurred_at"]).timestamp()
        trace = self.traces[envelope["correlation_id"]]
        if kind in _POINTS:
            at, ts = _POINTS[kind]
            if getattr(trace, at) is None:
                setattr(trace, at, occurred)
                setattr(trace, ts, timestamp)
            if kind == "RequestReceived":
                self.submitted_sizes.append(len(value))
        elif kind == "NotificationSent" and envelope["data"]["cause_event_type"] == "EngagementOpened":
            trace.notifications += 1
            if trace.notified is None:  # the first recipient told that the engagement is open
                trace.notified, trace.notified_ts = occurred, timestamp

    async def wait_done(self, ids: list[str], *, idle_timeout_s: float) -> None:
        """Until every id is notified, or nothing new completed for idle_timeout_s."""
        loop = asyncio.get_running_loop()
        last_done, last_change = -1, loop.time()
        while True:
            done = sum(1 for i in ids if self.traces[i].done)
            if done == len(ids):
                return
            if done != last_done:
                last_done, last_change = done, loop.time()
            elif loop.time() - last_change > idle_timeout_s:
                return
            await asyncio.sleep(0.2)
