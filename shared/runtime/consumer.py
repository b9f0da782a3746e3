"""Applying consumed events exactly once in effect.

A batch of records is decoded, checked against the inbox, applied and recorded in ONE PostgreSQL
transaction; only after that commit does the subscriber commit the batch's offsets. A redelivered event finds
its id in the inbox and has no second effect. A record that cannot be decoded, validated or applied goes to
the dead-letter topic (through the outbox, in the same transaction) and the partition moves on.
"""

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar
from uuid import UUID

import asyncpg
from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from shared.contract.envelope import Envelope, EventData
from shared.contract.events import DeadLettered, NewerVersion, UnknownEvent, parse_event
from shared.contract.ids import derived_id
from shared.contract.validation import describe
from shared.runtime import metrics
from shared.runtime.outbox import UnitOfWork, unit_of_work
from shared.runtime.tracing import span, tracer

log = logging.getLogger(__name__)

# Failures of the infrastructure, not of the message: retry the whole batch later, never dead-letter it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
    asyncpg.InternalClientError,  # a connection cut in the middle of an operation
)

# The request being worked on, for log lines (set per applied event).
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

DEAD_LETTER_VALUE_LIMIT = 256 * 1024

_DEAD_LETTER_NAMESPACE = UUID("6f0a3e59-8c1f-4c4e-9d44-4c0b6f0e1d2a")

EventHandler = Callable[[UnitOfWork, Envelope, EventData], Awaitable[None]]
# Runs around the handlers of one batch's new events, in its unit of work: a service that reads and writes a
# batch in a few set-based statements rather than a few per event does it here (notify).
BatchScope = Callable[[UnitOfWork, Sequence[EventData]], AbstractAsyncContextManager[object]]


def no_scope(_uow: UnitOfWork, _events: Sequence[EventData]) -> AbstractAsyncContextManager[object]:
    return nullcontext()


@dataclass(frozen=True, slots=True)
class Delivery:
    record: ConsumerRecord
    envelope: Envelope
    event: EventData


class BatchApplier(Protocol):
    """Applies a batch of records in one transaction; raises only for transient failures."""

    service: str

    async def apply_batch(self, records: Sequence[ConsumerRecord]) -> None: ...


class RejectEvent(Exception):
    """Raised by a handler when an event is well-formed but cannot be applied; it is dead-lettered."""


class EventConsumer:
    """Applies batches of records for one service; `handlers` maps the event models it acts on to functions.

    A tolerant reader: each event is read as the model its handler takes, ignoring fields it does not know; an
    older version is upcast, a newer one read as the model's version (FULL compatibility); a newer version that
    does not read is dead-lettered with the command that replays it once the service is upgraded."""

    def __init__(
        self,
        service: str,
        pool: asyncpg.Pool,
        handlers: Mapping[type[EventData], EventHandler],
        scope: BatchScope = no_scope,
    ) -> None:
        self.service = service
        self._pool = pool
        self._handlers = {model.event_type: handler for model, handler in handlers.items()}
        self._models = {model.event_type: model for model in handlers}
        self._scope = scope

    async def apply_batch(self, records: Sequence[ConsumerRecord]) -> None:
        deliveries, dead = self._decode(records)
        failed = await apply_isolating(self._pool, self.service, deliveries, self._apply)
        dead += [(delivery.record, _reason(exc)) for delivery, exc in failed]
        await dead_letter(self._pool, self.service, dead)

    def _decode(self, records: Sequence[ConsumerRecord]) -> tuple[list[Delivery], list[tuple[ConsumerRecord, str]]]:
        deliveries, dead = [], []
        for record in records:
            if _event_type(record) not in (None, *self._handlers):
                continue  # another service's event on a shared topic, skipped without parsing it
            try:
                envelope = Envelope.model_validate_json(record.value or b"", extra="ignore")
            except ValidationError as exc:
                dead.append((record, f"not a valid event envelope: {describe(exc, limit=3)}"))
                continue
            if envelope.type not in self._handlers:
                continue  # another service's event on a shared topic
            try:
                deliveries.append(Delivery(record, envelope, parse_event(envelope, self._models[envelope.type])))
            except NewerVersion as exc:
                dead.append(
                    (record, f"{exc}; once {self.service} reads it, replay: {replay_command(self.service, record)}")
                )
            except UnknownEvent as exc:
                dead.append((record, str(exc)))
            except ValidationError as exc:
                dead.append((record, f"invalid {envelope.type} v{envelope.version}: {describe(exc, limit=3)}"))
        return deliveries, dead

    async def _apply(self, uow: UnitOfWork, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        fresh = set(
            await uow.conn.fetchval(
                "WITH claimed AS (INSERT INTO inbox (event_id) SELECT unnest($1::uuid[])"
                " ON CONFLICT DO NOTHING RETURNING event_id) SELECT coalesce(array_agg(event_id), '{}') FROM claimed",
                [d.envelope.event_id for d in deliveries],
            )
        )
        applying = []
        for delivery in deliveries:
            if delivery.envelope.event_id in fresh:
                fresh.discard(delivery.envelope.event_id)  # the same event twice in one batch applies once
                applying.append(delivery)
        async with self._scope(uow, [delivery.event for delivery in applying]):
            for delivery in applying:
                await self._apply_one(uow, delivery)

    async def _apply_one(self, uow: UnitOfWork, delivery: Delivery) -> None:
        correlation_id.set(delivery.envelope.correlation_id)
        record = delivery.record
        # consume: the record, a child of the span that published it; handle: this service's work on it.
        with (
            span(f"consume {record.topic}", _headers(record), SpanKind.CONSUMER) as consuming,
            tracer.start_as_current_span(f"handle {delivery.envelope.type}") as handling,
        ):
            consuming.set_attributes(
                {
                    "messaging.system": "kafka",
                    "messaging.destination.name": record.topic,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                    "messaging.consumer.group.name": f"cri-{self.service}",
                }
            )
            handling.set_attribute("cri.event_id", str(delivery.envelope.event_id))
            log.debug("%s: applying %s %s", self.service, delivery.envelope.type, delivery.envelope.event_id)
            await self._handlers[delivery.envelope.type](uow, delivery.envelope, delivery.event)
        metrics.EVENTS_APPLIED.labels(self.service, delivery.envelope.type).inc()


T = TypeVar("T")


async def apply_isolating(
    pool: asyncpg.Pool,
    service: str,
    items: Sequence[T],
    apply: Callable[[UnitOfWork, Sequence[T]], Awaitable[None]],
) -> list[tuple[T, Exception]]:
    """Apply all items in one transaction. If that fails for a reason other than the infrastructure, apply
    them one per transaction, so one bad item does not hold back the others, and return the ones that fail
    with why. Transient failures propagate: the whole batch is redelivered."""
    if not items:
        return []
    try:
        async with unit_of_work(pool) as uow:
            await apply(uow, items)
        return []
    except TRANSIENT_ERRORS:
        raise
    except Exception:  # noqa: BLE001 - isolate the culprit below
        log.exception("%s: batch of %d failed; applying one by one", service, len(items))
    failed = []
    for item in items:
        try:
            async with unit_of_work(pool) as uow:
                await apply(uow, [item])
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the caller, who dead-letters it
            failed.append((item, exc))
    return failed


async def dead_letter(pool: asyncpg.Pool, service: str, dead: Sequence[tuple[ConsumerRecord, str]]) -> None:
    """Record dead letters through the outbox; each record's dead letter has a fixed id, so it is kept once."""
    if not dead:
        return
    async with unit_of_work(pool) as uow:
        for record, reason in dead:
            log.warning(
                "%s: dead-lettering %s[%d]@%d: %s", service, record.topic, record.partition, record.offset, reason
            )
            uow.publish(dead_letter_envelope(service, record, reason))
    metrics.DEAD_LETTERED.labels(service).inc(len(dead))


def replay_command(service: str, record: ConsumerRecord) -> str:
    """The `cri` command that has `service` read `record` again (from its second, in UTC; the inbox skips what
    the service already applied)."""
    written = datetime.fromtimestamp(record.timestamp // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"cri replay {record.topic} {service} --since {written}"


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, RejectEvent) else f"handler failed: {exc!r}"


def dead_letter_envelope(consumer: str, record: ConsumerRecord, reason: str) -> Envelope:
    """The dead letter of a record, with an id derived from where the record sits, so it is recorded once."""
    return dead_lettered(
        consumer,
        derived_id(_DEAD_LETTER_NAMESPACE, consumer, record.topic, record.partition, record.offset, separator=":"),
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        key=record.key,
        value=record.value,
        headers=_headers(record),
        reason=reason,
        at=datetime.now(UTC),
    )


def dead_lettered(
    consumer: str,
    event_id: UUID,
    *,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: dict[str, str],
    reason: str,
    at: datetime,
) -> Envelope:
    """The DeadLettered event of what `consumer` gives up on: its bytes (base64) and headers, and the reason.

    `event_id` is derived from what is dead-lettered (a record, a delivery), so it is recorded once; the
    correlation id is the original's `correlation-id` header."""
    data = DeadLettered(
        consumer=consumer,
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        original_key_b64=_b64(key),
        # A dead letter must always fit in a Kafka message, however large what it carries.
        original_value_b64=_b64(value[:DEAD_LETTER_VALUE_LIMIT] if value else value),
        original_size=len(value) if value is not None else None,
        truncated=value is not None and len(value) > DEAD_LETTER_VALUE_LIMIT,
        original_headers=headers,
        reason=reason,
        dead_lettered_at=at,
    )
    envelope = Envelope.wrap(data, source=consumer, correlation_id=headers.get("correlation-id", "dead-letter"))
    return envelope.model_copy(update={"event_id": event_id})


def _event_type(record: ConsumerRecord) -> str | None:
    """The `event-type` header the outbox sets; None when a record has none (the envelope then decides)."""
    for name, value in record.headers or ():
        if name == "event-type":
            return value.decode("utf-8", "replace")
    return None


def _headers(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()
