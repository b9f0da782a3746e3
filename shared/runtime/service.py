"""What every service process does the same way: migrate its schema, open its pool, start its broker client,
subscribers and outbox relay, serve HTTP (health, its API), and stop cleanly."""

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import asyncpg
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from faststream.kafka import KafkaBroker
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.contract.envelope import EventData
from shared.contract.topics import TopicSpec
from shared.runtime import metrics
from shared.runtime.broker import BrokerPublisher, make_broker, start_with_retry, subscribe
from shared.runtime.consumer import TRANSIENT_ERRORS, BatchApplier, EventConsumer, EventHandler, correlation_id
from shared.runtime.db import create_pool, migrate
from shared.runtime.outbox import OutboxRelay, backlog
from shared.runtime.settings import ServiceSettings
from shared.runtime.tracing import current_trace_id, setup_tracing, span

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

    def consume(self, topics: Sequence[TopicSpec], handlers: Mapping[type[EventData], EventHandler]) -> None:
        """Apply the events of `topics` that `handlers` name, exactly once in effect (inbox + outbox)."""
        applied = ", ".join(sorted(model.event_type for model in handlers))
        self.consume_records(
            topics,
            f"cri-{self.name}",
            lambda pool: EventConsumer(self.name, pool, handlers),
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
        await self._retry(lambda: migrate(self.settings.database_url, self.name, self.migrations_dir), "PostgreSQL")
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

    async def _retry(self, attempt: Callable[[], Awaitable[object]], what: str) -> None:
        failures = 0
        while True:
            try:
                await attempt()
                return
            except TRANSIENT_ERRORS as exc:
                failures += 1
                delay = min(10.0, 0.5 * 2**failures)
                log.error("%s: %s unreachable (%s); retrying in %.1fs", self.name, what, exc, delay)
                await asyncio.sleep(delay)

    async def is_ready(self) -> tuple[bool, dict[str, str]]:
        if not self.ready:
            return False, {"startup": "waiting for PostgreSQL, migrations and the broker"}
        checks: dict[str, str] = {}
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            checks["database"] = f"unreachable: {exc!r}"
        checks["broker"] = "ok" if await self.broker.ping(timeout=2) else "unreachable"
        checks["migrations"] = "applied" if self.ready else "pending"
        return all(v in ("ok", "applied") for v in checks.values()), checks


def create_service_app(runtime: ServiceRuntime, *, title: str, description: str, version: str = "1.0.0") -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Serve health at once; the service itself starts when PostgreSQL and the broker answer.
        starting = asyncio.create_task(runtime.start(), name=f"{runtime.name}-start")
        starting.add_done_callback(_exit_if_failed)
        try:
            yield
        finally:
            starting.cancel()
            with suppress(asyncio.CancelledError):
                await starting
            await runtime.stop()

    # FastAPI's own telemetry is off: _TraceAndGate opens the one server span per request, and FastAPI would add
    # a second one plus a span per dependency (a tenth of intake's time per request).
    no_native_telemetry: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        title=title, description=description, version=version, lifespan=lifespan, telemetry=no_native_telemetry
    )
    app.state.runtime = runtime

    app.add_middleware(_TraceAndGate, runtime=runtime)
    app.add_exception_handler(asyncpg.DataError, _data_refused)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "alive", "service": runtime.name}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health/ready", tags=["health"])
    async def ready(response: Response) -> dict[str, object]:
        ok, checks = await runtime.is_ready()
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not ready", "service": runtime.name, "checks": checks}

    return app


_ALWAYS_SERVED = ("/health", "/metrics", "/docs", "/openapi.json")


class _TraceAndGate:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware): a server span per HTTP request, continuing the
    caller's trace; 503 for the API while the service is still starting."""

    def __init__(self, app: ASGIApp, runtime: ServiceRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if not self.runtime.ready and not path.startswith(_ALWAYS_SERVED):
            starting = JSONResponse(
                {"detail": f"{self.runtime.name} is starting: waiting for PostgreSQL and the broker"},
                status_code=503,
                headers={"Retry-After": "2"},
            )
            await starting(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        with span(f"{scope['method']} {path}", headers, SpanKind.SERVER):
            await self.app(scope, receive, send)


async def _data_refused(_request: Request, exc: Exception) -> JSONResponse:
    """A value PostgreSQL refuses (SQLSTATE class 22: out of range, bad encoding...) came from the caller: a 422
    naming the problem, never a 500. The models bound what they can; this is the net under them."""
    return JSONResponse({"detail": f"value not accepted: {exc}"}, status_code=422)


def _exit_if_failed(starting: asyncio.Task) -> None:
    """A start that fails for good (not an outage, which is retried) must not leave a live, useless process."""
    if not starting.cancelled() and starting.exception() is not None:
        log.critical("start failed: %r; exiting", starting.exception(), exc_info=starting.exception())
        os.kill(os.getpid(), signal.SIGTERM)


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


class _ServiceContext(logging.Filter):
    """Stamps every record with the service and the correlation id of the request being worked on."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id.get()
        record.trace_id = current_trace_id()
        return True


def configure_logging(service: str) -> None:
    """Plain lines for people; JSON lines (CRI_LOG_FORMAT=json) for log pipelines."""
    handler = logging.StreamHandler()
    handler.addFilter(_ServiceContext(service))
    if os.environ.get("CRI_LOG_FORMAT") == "json":
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(correlation_id)s %(trace_id)s")
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(service)s %(levelname)s %(name)s: %(message)s"))
    # CRI_LOG_LEVEL=DEBUG opens up the project's own loggers, not the chatty client libraries'.
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for project_logger in ("shared", "services"):
        logging.getLogger(project_logger).setLevel(os.environ.get("CRI_LOG_LEVEL", "INFO"))


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run one service process until SIGINT/SIGTERM; uvicorn runs the lifespan shutdown on either."""
    setup_tracing(app.state.runtime.name)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        timeout_graceful_shutdown=10,
        # libuv's loop and the C HTTP parser: a service spends much of its CPU in the event loop and in HTTP.
        loop="uvloop",
        http="httptools",
    )
