"""Notify's use cases.

Recording, in the consumer's unit of work and a batch at a time: remember requests (a request's description and
its addressee come in two events, on two topics, in either order), plan who hears of each event and record one
pending delivery each; an event about a request not yet on record, described and addressed, is parked until it is.
Dispatching: attempt a claimed delivery, then settle a batch of attempts in one unit of work, emitting
NotificationSent, NotificationFailed and the DeadLettered of each delivery given up.
"""

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import JsonValue

from services.notify import SERVICE, store
from services.notify.domain.deliveries import DeliveryFailed
from services.notify.domain.planning import PlannedNotification, plan_notifications
from services.notify.domain.preferences import Preferences
from services.notify.domain.recipients import Recipient
from services.notify.domain.rendering import RenderedMessage, RenderError, render
from services.notify.domain.request_facts import Addressee, RequestDescription, RequestFacts
from services.notify.domain.retries import RetryPolicy
from services.notify.store import ClaimedDelivery
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import (
    EVENT_MODELS,
    NotificationFailed,
    NotificationSent,
    RequestContactGiven,
    RequestReceived,
    RequestRouted,
    RequestSubmitted,
    RequestWithdrawn,
    parse_event,
)
from shared.contract.ids import derived_id
from shared.runtime.consumer import dead_lettered
from shared.runtime.outbox import UnitOfWork
from shared.runtime.tracing import continuing, span, trace_headers

log = logging.getLogger(__name__)

_DEAD_LETTER_NAMESPACE = UUID("0b7f6a52-3c1e-4d8e-9a61-2f4c9e5d7b13")


class Notifications:
    """Records who hears of each event. A consumed batch is one `batch` (its handlers run inside it): its requests
    are remembered and their facts read in a few statements for the whole batch, and its deliveries written in
    one. `recorded` is set once recorded deliveries are committed, to wake the dispatcher."""

    def __init__(self, staff: Recipient, preferences: Preferences, recorded: asyncio.Event) -> None:
        self._staff = staff
        self._preferences = preferences
        self._recorded = recorded

    @asynccontextmanager
    async def batch(self, uow: UnitOfWork, events: Sequence[EventData]) -> AsyncIterator[None]:
        """The scope of one batch's handlers (the consumer's BatchScope)."""
        batch = _Batch(self._staff, self._preferences, uow)
        await batch.prepare(events)
        token = _current.set(batch)
        try:
            yield
        finally:
            _current.reset(token)
        await batch.finish(self._recorded)

    async def notify_of_request(
        self, _uow: UnitOfWork, envelope: Envelope, event: RequestReceived | RequestSubmitted
    ) -> None:
        """Record who hears of a received request (parked until its addressee has come); plan what was parked
        waiting for it. A RequestSubmitted (published before RequestReceived replaced it) is told the same way: the
        batch remembered both its parts."""
        batch = _current.get()
        batch.tell(envelope, event)
        batch.arrived(event.request_id)

    async def remember_contact(self, _uow: UnitOfWork, _envelope: Envelope, event: RequestContactGiven) -> None:
        """Whom to write to about a request (remembered with the batch): plan what was parked waiting for it."""
        _current.get().arrived(event.request_id)

    async def notify_of_event(self, _uow: UnitOfWork, envelope: Envelope, event: EventData) -> None:
        """Record who hears of an event about a request; park it while its request is not on record."""
        _current.get().tell(envelope, event)

    async def plan_parked(self, uow: UnitOfWork) -> int:
        """The sweep: plan the events parked for every request now on record. Two replicas can overlap: one parks
        an event while the other remembers its request and finds nothing parked yet (neither sees the other's
        uncommitted rows); the sweep finds those, without a lock on every event."""
        batch = _Batch(self._staff, self._preferences, uow)
        found = await batch.plan_parked(None)
        await batch.finish(self._recorded)
        return found


_current: ContextVar["_Batch"] = ContextVar("notify_batch")


class _Batch:
    """One unit of work's recording: the facts of its requests in memory, what it learns and plans buffered, and
    written in a few statements when the batch ends (before its transaction commits)."""

    def __init__(self, staff: Recipient, preferences: Preferences, uow: UnitOfWork) -> None:
        self._staff = staff
        self._preferences = preferences
        self._uow = uow
        self._facts: dict[UUID, RequestFacts] = {}
        self._learnt: list[tuple[UUID, str, JsonValue]] = []
        self._parked: list[tuple[Envelope, UUID]] = []
        self._planned: list[store.Recorded] = []
        self._arrived: dict[UUID, dict[str, str]] = {}  # request on record now -> the trace it arrived in

    async def prepare(self, events: Sequence[EventData]) -> None:
        """Remember the requests and addressees the batch brings, then read the facts of every request it names."""
        parts = [
            part for event in events for part in (event.parts() if isinstance(event, RequestSubmitted) else (event,))
        ]
        descriptions = [RequestDescription.of(part) for part in parts if isinstance(part, RequestReceived)]
        addressees = [
            (part.request_id, Addressee.of(part.contact)) for part in parts if isinstance(part, RequestContactGiven)
        ]
        if descriptions:
            await store.remember_requests(self._uow.conn, descriptions)
        if addressees:
            await store.remember_addressees(self._uow.conn, addressees)
        named = {request_id for event in events if (request_id := getattr(event, "request_id", None)) is not None}
        if named:
            self._facts = await store.facts_of(self._uow.conn, named)

    def tell(self, envelope: Envelope, event: EventData) -> None:
        """Plan who hears of `event`, or park it while its request is not on record."""
        request_id: UUID | None = getattr(event, "request_id", None)
        facts = self._facts.get(request_id) if request_id is not None else None
        if facts is None and request_id is not None:
            # Engagement events and the addressee travel on other topics and may overtake the request.
            self._parked.append((envelope, request_id))
            return
        self._plan(envelope, event, facts)

    def arrived(self, request_id: UUID) -> None:
        """A part of the request came: events parked for it before this batch may be planned now."""
        self._arrived.setdefault(request_id, trace_headers())

    async def plan_parked(self, request_ids: Collection[UUID] | None) -> int:
        found = await store.unpark_remembered(self._uow.conn, request_ids)
        for parked, facts in found:
            request_id = facts.request_id
            self._facts.setdefault(request_id, facts)
            with continuing(self._arrived.get(request_id, {})):
                self._plan(parked, parse_event(parked), self._facts[request_id])
        return len(found)

    async def finish(self, recorded: asyncio.Event) -> None:
        conn = self._uow.conn
        if self._parked:
            await store.park(conn, self._parked)
        # Planned with the facts in memory, which hold what this batch learnt (the rows unparked come with the
        # facts as stored): what they learn in turn is written with the rest below.
        if on_record := [request_id for request_id in self._arrived if request_id in self._facts]:
            await self.plan_parked(on_record)
        if self._learnt:
            await store.remember_facts(conn, self._learnt)
        if self._planned:
            await store.record_deliveries(conn, self._planned)
            self._uow.after_commit(recorded.set)

    def _plan(self, envelope: Envelope, event: EventData, facts: RequestFacts | None) -> None:
        planned = plan_notifications(envelope, event, request=facts, staff=self._staff, preferences=self._preferences)
        trace = trace_headers()
        self._planned += [store.Recorded(p, envelope.correlation_id, trace) for p in planned]
        if facts is not None:
            self._learn(event, facts)

    def _learn(self, event: EventData, facts: RequestFacts) -> None:
        """Remember what a later event says that a withdrawal needs: the provider a request went to, and that it
        was withdrawn (the two can come in either order when they race)."""
        fact: Any
        if isinstance(event, RequestRouted):
            name, fact, value = "provider", event.provider, event.provider.model_dump(mode="json")
        elif isinstance(event, RequestWithdrawn):
            name, fact, value = "withdrawn_at", event.withdrawn_at, event.withdrawn_at.isoformat()
        else:
            return
        self._facts[facts.request_id] = facts.model_copy(update={name: fact})
        self._learnt.append((facts.request_id, name, value))


class Sender(Protocol):
    """Sends a rendered message on its notification's channel, raising DeliveryFailed (`channels.Channels`)."""

    async def deliver(self, delivery_id: UUID, planned: PlannedNotification, rendered: RenderedMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one try of a claimed delivery went; without a `failure`, its receiver accepted it."""

    delivery: ClaimedDelivery
    failure: DeliveryFailed | None


async def attempt(sender: Sender, delivery: ClaimedDelivery) -> Attempt:
    """Render and send one delivery; the outcome, not an exception, says how it went. The sending is a span of
    the trace of the work that planned the delivery."""
    planned = delivery.planned
    failure: DeliveryFailed | None = None
    with span(f"send {planned.channel}", delivery.trace_headers, SpanKind.CLIENT) as sending:
        sending.set_attributes(
            {
                "cri.delivery_id": str(delivery.delivery_id),
                "cri.recipient_role": planned.recipient.role,
                "cri.attempt": delivery.attempts,
            }
        )
        try:
            if planned.address is None:
                raise DeliveryFailed(f"missing recipient address for the {planned.recipient.role}", permanent=True)
            try:
                rendered = render(planned)
            except RenderError as exc:
                raise DeliveryFailed(f"template error: {exc.reason}", permanent=True) from exc
            await sender.deliver(delivery.delivery_id, planned, rendered)
        except DeliveryFailed as exc:
            failure = exc
        except Exception as exc:  # noqa: BLE001 - a surprise in one send must not stop the dispatcher
            log.exception("notification %s: unexpected error", delivery.delivery_id)
            failure = DeliveryFailed(f"unexpected error: {type(exc).__name__}", permanent=False, answer=repr(exc))
        if failure is not None:
            sending.set_status(Status(StatusCode.ERROR, failure.reason))
    return Attempt(delivery, failure)


async def settle(uow: UnitOfWork, attempts: Sequence[Attempt], retries: RetryPolicy, rng: random.Random) -> None:
    """Record how a batch of attempts went, in one unit of work (settling one by one cost notify a fifth of its
    time): the accepted are marked sent in one statement and announced; each other is tried again later, or,
    failing for good, failed, announced and dead-lettered."""
    await store.mark_sent(uow.conn, [done.delivery.delivery_id for done in attempts if done.failure is None])
    for done in attempts:
        now, delivery, failure = datetime.now(UTC), done.delivery, done.failure
        with continuing(delivery.trace_headers):  # its outcome events are in the delivery's trace
            if failure is None:
                uow.publish(_announce(NotificationSent(**_facts_of(delivery), sent_at=now), delivery))
            elif (reason := retries.given_up(failure, delivery.attempts)) is not None:
                await store.mark_failed(uow.conn, delivery.delivery_id, failure.logged(reason))
                failed = NotificationFailed(
                    **_facts_of(delivery), reason=reason, permanent=failure.permanent, failed_at=now
                )
                uow.publish(_announce(failed, delivery))
                uow.publish(dead_letter(delivery.delivery_id, delivery.correlation_id, delivery.planned, reason, now))
                log.warning("notification %s failed: %s", delivery.delivery_id, reason)
            else:
                delay = retries.delay(delivery.attempts, rng)
                await store.retry_later(uow.conn, delivery.delivery_id, failure.logged(failure.reason), delay)


def _facts_of(delivery: ClaimedDelivery) -> dict[str, Any]:
    """What NotificationSent and NotificationFailed say of a delivery."""
    planned = delivery.planned
    return {
        "delivery_id": delivery.delivery_id,
        "request_id": planned.request_id,
        "cause_event_id": planned.cause_event_id,
        "cause_event_type": planned.cause_event_type,
        "recipient_role": planned.recipient.role,
        "channel": planned.channel,
        "attempts": delivery.attempts,
    }


def _announce(event: NotificationSent | NotificationFailed, delivery: ClaimedDelivery) -> Envelope:
    return Envelope.wrap(event, source=SERVICE, correlation_id=delivery.correlation_id)


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
    return dead_lettered(
        SERVICE,
        derived_id(_DEAD_LETTER_NAMESPACE, delivery),
        source_topic=EVENT_MODELS[planned.cause_event_type].topic,
        source_partition=-1,
        source_offset=-1,
        key=None,
        value=json.dumps(value, sort_keys=True).encode(),
        headers={"correlation-id": correlation_id, "event-type": planned.cause_event_type},
        reason=reason,
        at=now,
    )
