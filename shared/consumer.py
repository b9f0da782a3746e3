"""Applying consumed events exactly once in effect.

A batch of records is decoded, checked against the inbox, applied and recorded in ONE PostgreSQL
transaction; only after that commit does the subscriber commit the batch's offsets. A redelivered event finds
its id in the inbox and has no second effect. A record that cannot be decoded, validated or applied goes to
the dead-letter topic (through the outbox, in the same transaction) and the partition moves on.
"""

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID, uuid5

import asyncpg
from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from shared import metrics
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import DeadLettered, UnknownEvent, parse_event
from shared.outbox import UnitOfWork, unit_of_work
from shared.tracing import span

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
)

# The request being worked on, for log lines (set per applied event).
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_DEAD_LETTER_NAMESPACE = UUID("6f0a3e59-8c1f-4c4e-9d44-4c0b6f0e1d2a")

EventHandler = Callable[[UnitOfWork, Envelope, EventData], Awaitable[None]]


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
    """Applies batches of records for one service; `handlers` maps the event models it acts on to functions."""

    def __init__(self, service: str, pool: asyncpg.Pool, handlers: Mapping[type[EventData], EventHandler]) -> None:
        self.service = service
        self._pool = pool
        self._handlers = {model.event_type: handler for model, handler in handlers.items()}

    async def apply_batch(self, records: Sequence[ConsumerRecord]) -> None:
        deliveries, dead = self._decode(records)
        try:
            async with unit_of_work(self._pool) as uow:
                await self._apply(uow, deliveries)
                self._dead_letter(uow, dead)
        except TRANSIENT_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - one bad event must not hold back the others: isolate it
            log.exception("%s: batch of %d failed; applying one by one", self.service, len(deliveries))
            await self._apply_one_by_one(deliveries, dead)
        metrics.DEAD_LETTERED.labels(self.service).inc(len(dead))

    def _decode(self, records: Sequence[ConsumerRecord]) -> tuple[list[Delivery], list[tuple[ConsumerRecord, str]]]:
        deliveries, dead = [], []
        for record in records:
            try:
                envelope = Envelope.model_validate_json(record.value or b"")
            except ValidationError as exc:
                dead.append((record, f"not a valid event envelope: {_first_errors(exc)}"))
                continue
            if envelope.type not in self._handlers:
                continue  # another service's event on a shared topic
            try:
                deliveries.append(Delivery(record, envelope, parse_event(envelope)))
            except UnknownEvent as exc:
                dead.append((record, str(exc)))
            except ValidationError as exc:
                dead.append((record, f"invalid {envelope.type} v{envelope.version}: {_first_errors(exc)}"))
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
        for delivery in deliveries:
            if delivery.envelope.event_id in fresh:
                fresh.discard(delivery.envelope.event_id)  # the same event twice in one batch applies once
                correlation_id.set(delivery.envelope.correlation_id)
                headers = _headers(delivery.record)
                with span(f"apply {delivery.envelope.type}", headers, SpanKind.CONSUMER):
                    log.debug("%s: applying %s %s", self.service, delivery.envelope.type, delivery.envelope.event_id)
                    await self._handlers[delivery.envelope.type](uow, delivery.envelope, delivery.event)
                metrics.EVENTS_APPLIED.labels(self.service, delivery.envelope.type).inc()

    async def _apply_one_by_one(self, deliveries: Sequence[Delivery], dead: list[tuple[ConsumerRecord, str]]) -> None:
        for delivery in deliveries:
            try:
                async with unit_of_work(self._pool) as uow:
                    await self._apply(uow, [delivery])
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - dead-letter this event with the reason, go on
                reason = str(exc) if isinstance(exc, RejectEvent) else f"handler failed: {exc!r}"
                dead.append((delivery.record, reason))
        async with unit_of_work(self._pool) as uow:
            self._dead_letter(uow, dead)

    def _dead_letter(self, uow: UnitOfWork, dead: Sequence[tuple[ConsumerRecord, str]]) -> None:
        for record, reason in dead:
            log.warning(
                "%s: dead-lettering %s[%d]@%d: %s", self.service, record.topic, record.partition, record.offset, reason
            )
            envelope = dead_letter_envelope(self.service, record, reason)
            uow.publish(envelope)


def dead_letter_envelope(consumer: str, record: ConsumerRecord, reason: str) -> Envelope:
    """The dead letter of a record, with an id derived from where the record sits, so it is recorded once."""
    headers = _headers(record)
    data = DeadLettered(
        consumer=consumer,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        original_key_b64=_b64(record.key),
        original_value_b64=_b64(record.value),
        original_headers=headers,
        reason=reason,
        dead_lettered_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(data, source=consumer, correlation_id=headers.get("correlation-id", "dead-letter"))
    event_id = uuid5(_DEAD_LETTER_NAMESPACE, f"{consumer}:{record.topic}:{record.partition}:{record.offset}")
    return envelope.model_copy(update={"event_id": event_id})


def _headers(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors(include_url=False)[:limit]
    )
