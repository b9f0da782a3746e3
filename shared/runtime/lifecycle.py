"""The life of one service process: migrate its schema, open its pool, start its broker client, subscribers,
outbox relay and background tasks (kept alive by a supervisor), sample its gauges, report readiness, stop cleanly."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import asyncpg
from faststream.kafka import KafkaBroker

from shared.contract.envelope import EventData
from shared.contract.topics import TopicSpec
from shared.runtime import metrics
from shared.runtime.backoff import retry
from shared.runtime.broker import BrokerPublisher, make_broker, start_with_retry, subscribe
from shared.runtime.consumer import TRANSIENT_ERRORS, BatchApplier, BatchScope, EventConsumer, EventHandler, no_scope
from shared.runtime.db import create_pool, migrate, pending_migrations
from shared.runtime.outbox import OutboxRelay, backlog
from shared.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

BackgroundTask = Callable[["ServiceRuntime"], Awaitable[None]]


class ServiceRuntime:
    """The I/O edges of one service, created in one place and handed to handlers and routes."""

    def __init__(self, name: str, settings: ServiceSettings, migrations_dir: Path) -> None:
        self.name = name
        self.settings = settings
        self.migrations_dir = migrations_dir
        self.broker: KafkaBroker = make_broker(settings, name)
        self._pool: asyncpg.Pool | None = None
        self._appliers: list[Callable[[asyncpg.Pool], BatchApplier]] = []
        self._background: list[BackgroundTask] = []
        self._on_start: list[BackgroundTask] = []
        self._tasks: list[asyncio.Task] = []
        self.consumers: list[BatchApplier] = []
        self.relay: OutboxRelay | None = None
        self.ready = False

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} has not started")
        return self._pool

    def consume(
        self,
        topics: Sequence[TopicSpec],
        handlers: Mapping[type[EventData], EventHandler],
        scope: BatchScope = no_scope,
    ) -> None:
        """Apply the events of `topics` that `handlers` name, exactly once in effect (inbox + outbox); `scope`, when
        given, runs around the handlers of each batch."""
        applied = ", ".join(sorted(model.event_type for model in handlers))
        self.consume_records(
            topics,
            f"cri-{self.name}",
            lambda pool: EventConsumer(self.name, pool, handlers, scope),
            description=f"Applies {applied}; other event types on these topics are skipped.",
        )

    def consume_records(
        self,
        topics: Sequence[TopicSpec],
        group_id: str,
        applier: Callable[[asyncpg.Pool], BatchApplier],
        *,
        description: str,
    ) -> None:
        """Feed raw record batches of `topics` to the applier built at start; for topics that carry no envelope."""
        index = len(self._appliers)
        self._appliers.append(applier)
        subscribe(self.broker, self.name, lambda: self.consumers[index], topics, group_id, self.settings, description)

    def publishes(self, *models: type[EventData]) -> None:
        """Declare the events this service publishes (through its outbox), for the AsyncAPI document."""
        for model in models:
            self.broker.publisher(
                model.topic,
                title=f"{model.event_type} v{model.event_version}",
                description=(model.__doc__ or model.event_type).strip(),
                schema=model,
            )

    def on_start(self, step: BackgroundTask) -> None:
        """Run `step(runtime)` once the database is ready and before any message is consumed (seeding...)."""
        self._on_start.append(step)

    def background(self, task: BackgroundTask) -> None:
        """Run `task(runtime)` for the life of the service (deadline scans, notification dispatch...)."""
        self._background.append(task)

    async def start(self) -> None:
        await retry(
            lambda: migrate(self.settings.database_url, self.name, self.migrations_dir),
            transient=TRANSIENT_ERRORS,
            what=f"{self.name}: PostgreSQL",
            log=log,
        )
        self._pool = await create_pool(self.settings.database_url, self.name, self.settings.db_pool_size)
        for step in self._on_start:
            await step(self)
        self.consumers = [applier(self.pool) for applier in self._appliers]
        await start_with_retry(self.broker, self.settings)
        self.relay = OutboxRelay(
            self.settings.database_url,
            self.name,
            BrokerPublisher(self.broker),
            batch_size=self.settings.outbox_batch_size,
            poll_interval_s=self.settings.outbox_poll_interval_s,
        )
        relay = self.relay
        tasks = [lambda _rt: relay.run(), lambda rt: rt._sample_gauges(), *self._background]
        names = ["outbox-relay", "gauges", *(task.__name__ for task in self._background)]
        self._tasks = [
            asyncio.create_task(self._supervise(name, task), name=f"{self.name}-{name}")
            for name, task in zip(names, tasks, strict=True)
        ]
        self.ready = True
        log.info(
            "%s started (broker %s at %s)", self.name, self.settings.broker_kind, self.settings.kafka_bootstrap_servers
        )

    async def stop(self) -> None:
        self.ready = False
        # Stop fetching first: in-flight batches finish and commit; nothing uncommitted is acknowledged.
        await self.broker.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        if self._pool is not None:
            await self._pool.close()
        log.info("%s stopped cleanly", self.name)

    async def _supervise(self, name: str, task: BackgroundTask) -> None:
        """Keep a background task alive: a crash is logged loudly and the task restarted, never lost silently."""
        while True:
            try:
                await task(self)
                log.error("%s: background task %s returned; restarting it", self.name, name)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - whatever killed it, log it and start it again
                log.exception("%s: background task %s crashed; restarting it in 1s", self.name, name)
            await asyncio.sleep(1.0)

    async def _sample_gauges(self, every_s: float = 5.0) -> None:
        """Outbox backlog and consumer lag change without any event of ours: sample them."""
        while True:
            try:
                async with self.pool.acquire() as conn:
                    count, age = await backlog(conn)
                metrics.OUTBOX_BACKLOG.labels(self.name).set(count)
                metrics.OUTBOX_AGE.labels(self.name).set(age)
                for subscriber in self.broker.subscribers:
                    consumer = getattr(subscriber, "consumer", None)
                    for partition in consumer.assignment() if consumer else ():
                        end = consumer.highwater(partition)
                        if end is not None:
                            lag = max(end - await consumer.position(partition), 0)
                            metrics.CONSUMER_LAG.labels(self.name, partition.topic, partition.partition).set(lag)
            except Exception as exc:  # noqa: BLE001 - a failed sample must not stop sampling
                log.debug("%s: gauge sampling failed: %r", self.name, exc)
            await asyncio.sleep(every_s)

    async def is_ready(self) -> tuple[bool, dict[str, str]]:
        if not self.ready:
            return False, {"startup": "waiting for PostgreSQL, migrations and the broker"}
        checks: dict[str, str] = {}
        try:
            async with self.pool.acquire(timeout=2) as conn:
                pending = await pending_migrations(conn, self.name, self.migrations_dir)
            checks["database"] = "ok"
            checks["migrations"] = "applied" if not pending else f"pending: {', '.join(pending)}"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            checks["database"] = f"unreachable: {exc!r}"
            checks["migrations"] = "unknown: the database is unreachable"
        checks["broker"] = "ok" if await self.broker.ping(timeout=2) else "unreachable"
        return all(v in ("ok", "applied") for v in checks.values()), checks
