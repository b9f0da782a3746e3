"""Sends recorded deliveries outside the consumer's poll loop, so a slow or absent SMTP server never blocks a
partition: due deliveries are claimed, sent, and settled (sent, retried later with backoff, or failed)."""

import asyncio
import base64
import json
import logging
import random
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import asyncpg
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.notify import store
from services.notify.channels import Channels, DeliveryFailed
from services.notify.messages import PlannedNotification, RenderError, render, retry_delay
from services.notify.settings import NotifySettings
from shared.contract.envelope import Envelope
from shared.contract.events import EVENT_MODELS, DeadLettered, NotificationFailed, NotificationSent
from shared.runtime.consumer import TRANSIENT_ERRORS
from shared.runtime.outbox import UnitOfWork, unit_of_work
from shared.runtime.tracing import continuing, span

log = logging.getLogger(__name__)
SOURCE = "notify"
POLL_INTERVAL_S = 0.2
_DEAD_LETTER_NAMESPACE = UUID("0b7f6a52-3c1e-4d8e-9a61-2f4c9e5d7b13")


class Dispatcher:
    def __init__(
        self, pool: asyncpg.Pool, settings: NotifySettings, channels: Channels, recorded: asyncio.Event
    ) -> None:
        """`recorded` is set when this process records deliveries, so they go out at once rather than at the
        next poll (which still finds those of other replicas and retries come due)."""
        self._pool = pool
        self._settings = settings
        self._channels = channels
        self._recorded = recorded
        self._rng = random.Random()

    async def run(self) -> None:
        while True:
            try:
                self._recorded.clear()
                if not await self.dispatch_due():
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._recorded.wait(), POLL_INTERVAL_S)
            except TRANSIENT_ERRORS as exc:
                log.warning("notify dispatcher: database unavailable (%r); retrying", exc)
                await asyncio.sleep(1.0)

    async def dispatch_due(self) -> int:
        async with self._pool.acquire() as conn:
            claimed = await store.claim_due(
                conn, self._settings.dispatch_batch, timedelta(seconds=self._settings.dispatch_lease_s)
            )
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(row) for row in claimed))
        # The messages may be out: keep trying to record that while the lease holds, or they would be sent again.
        deadline = time.monotonic() + self._settings.dispatch_lease_s / 2
        while True:
            try:
                # One transaction for the whole batch: settling one by one cost notify a fifth of its time.
                async with unit_of_work(self._pool) as uow:
                    await store.mark_sent(uow.conn, [delivery for delivery, *_, failure in outcomes if failure is None])
                    for row, outcome in zip(claimed, outcomes, strict=True):
                        with continuing(row["trace_headers"]):  # its outcome event is in the delivery's trace
                            await self._settle(uow, *outcome)
                return len(claimed)
            except TRANSIENT_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("notify: outcomes of %d deliveries not recorded yet (%r); trying again", len(claimed), exc)
                await asyncio.sleep(1.0)

    async def _send(self, row: asyncpg.Record) -> tuple[UUID, str, int, PlannedNotification, DeliveryFailed | None]:
        """Render and send one delivery; the outcome, not an exception, says how it went."""
        delivery: UUID = row["delivery_id"]
        planned = PlannedNotification.model_validate(row["plan"])
        failure: DeliveryFailed | None = None
        with span(f"send {planned.channel}", row["trace_headers"], SpanKind.CLIENT) as sending:
            sending.set_attributes(
                {
                    "cri.delivery_id": str(delivery),
                    "cri.recipient_role": planned.recipient.role,
                    "cri.attempt": row["attempts"],
                }
            )
            try:
                if planned.address is None:
                    raise DeliveryFailed(f"missing recipient address for the {planned.recipient.role}", permanent=True)
                try:
                    rendered = render(planned)
                except RenderError as exc:
                    raise DeliveryFailed(f"template error: {exc.reason}", permanent=True) from exc
                await self._channels.deliver(delivery, planned, rendered)
            except DeliveryFailed as exc:
                failure = exc
            except Exception as exc:  # noqa: BLE001 - a surprise in one send must not stop the dispatcher
                log.exception("notification %s: unexpected error", delivery)
                failure = DeliveryFailed(f"unexpected error: {exc!r}", permanent=False)
            if failure is not None:
                sending.set_status(Status(StatusCode.ERROR, failure.reason))
        return delivery, row["correlation_id"], row["attempts"], planned, failure

    async def _settle(
        self,
        uow: UnitOfWork,
        delivery: UUID,
        correlation_id: str,
        attempts: int,
        planned: PlannedNotification,
        failure: DeliveryFailed | None,
    ) -> None:
        now = datetime.now(UTC)
        common = {
            "delivery_id": delivery,
            "request_id": planned.request_id,
            "cause_event_id": planned.cause_event_id,
            "cause_event_type": planned.cause_event_type,
            "recipient_role": planned.recipient.role,
            "channel": planned.channel,
            "attempts": attempts,
        }
        if failure is None:  # marked sent with the rest of the batch
            uow.publish(
                Envelope.wrap(NotificationSent(**common, sent_at=now), source=SOURCE, correlation_id=correlation_id)
            )
        elif failure.permanent or attempts >= self._settings.max_attempts:
            reason = failure.reason if failure.permanent else f"gave up after {attempts} attempts: {failure.reason}"
            await store.mark_failed(uow.conn, delivery, reason)
            event = NotificationFailed(**common, reason=reason, permanent=failure.permanent, failed_at=now)
            uow.publish(Envelope.wrap(event, source=SOURCE, correlation_id=correlation_id))
            uow.publish(dead_letter(delivery, correlation_id, planned, reason, now))
            log.warning("notification %s failed: %s", delivery, reason)
        else:
            delay = retry_delay(
                attempts, base_s=self._settings.retry_base_s, cap_s=self._settings.retry_cap_s, rng=self._rng
            )
            await store.retry_later(uow.conn, delivery, failure.reason, delay)


def dead_letter(
    delivery: UUID, correlation_id: str, planned: PlannedNotification, reason: str, now: datetime
) -> Envelope:
    """The dead letter of a notification given up on, with an id derived from its delivery so it is recorded once.

    It names the delivery and its cause, not the message: the rendered text may be confidential, and the delivery
    log (`GET /v1/deliveries/{id}`) holds the rest. A delivery is not a record, so partition and offset are -1.
    """
    value = {
        "delivery_id": str(delivery),
        "cause_event_id": str(planned.cause_event_id),
        "cause_event_type": planned.cause_event_type,
        "kind": planned.kind,
        "role": planned.recipient.role,
        "channel": planned.channel,
        "request_id": str(planned.request_id) if planned.request_id else None,
    }
    data = DeadLettered(
        consumer=SOURCE,
        source_topic=EVENT_MODELS[planned.cause_event_type].topic,
        source_partition=-1,
        source_offset=-1,
        original_key_b64=None,
        original_value_b64=base64.b64encode(json.dumps(value, sort_keys=True).encode()).decode(),
        original_headers={"correlation-id": correlation_id, "event-type": planned.cause_event_type},
        reason=reason,
        dead_lettered_at=now,
    )
    envelope = Envelope.wrap(data, source=SOURCE, correlation_id=correlation_id)
    return envelope.model_copy(update={"event_id": uuid5(_DEAD_LETTER_NAMESPACE, str(delivery))})
