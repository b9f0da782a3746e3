"""Notify's event handlers: remember requests, decide who hears what, record one delivery each.

An event about a request not yet on record waits (parked) for the request's RequestSubmitted, then is planned.
"""

import asyncio

from services.notify import store
from services.notify.messages import Preferences, Recipient, RequestFacts, plan_notifications
from shared.consumer import EventHandler
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import (
    DeadlineMissed,
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    RequestNeedsReview,
    RequestQueued,
    RequestRouted,
    RequestSubmitted,
    parse_event,
)
from shared.outbox import UnitOfWork

NOTIFIED_EVENTS = (
    RequestSubmitted,
    RequestRouted,
    RequestNeedsReview,
    RequestQueued,
    EngagementOpened,
    DeadlineMissed,
    EngagementEscalated,
    EngagementClosed,
)


def make_handlers(
    staff: Recipient, preferences: Preferences, recorded: asyncio.Event
) -> dict[type[EventData], EventHandler]:
    """`recorded` is set once recorded deliveries are committed, to wake the dispatcher."""

    async def plan_and_record(
        uow: UnitOfWork, envelope: Envelope, event: EventData, facts: RequestFacts | None
    ) -> None:
        planned = plan_notifications(envelope, event, request=facts, staff=staff, preferences=preferences)
        await store.record_deliveries(uow.conn, envelope, planned)
        if planned:
            uow.after_commit(recorded.set)

    async def on_event(uow: UnitOfWork, envelope: Envelope, event: EventData) -> None:
        request_id = getattr(event, "request_id", None)
        if isinstance(event, RequestSubmitted):
            facts = RequestFacts.from_submitted(event)
            await store.lock_request(uow.conn, facts.request_id)
            await store.remember_request(uow.conn, facts)
            await plan_and_record(uow, envelope, event, facts)
            for parked in await store.unpark(uow.conn, facts.request_id):
                await plan_and_record(uow, parked, parse_event(parked), facts)
            return
        facts = await store.request_facts(uow.conn, request_id)
        if facts is None and request_id is not None:
            # Engagement events travel on another topic (another replica may consume it) and may overtake the
            # RequestSubmitted they follow: park the event, unless the request was remembered in the meantime.
            await store.lock_request(uow.conn, request_id)
            facts = await store.request_facts(uow.conn, request_id)
            if facts is None:
                await store.park(uow.conn, envelope, request_id)
                return
        await plan_and_record(uow, envelope, event, facts)

    return {model: on_event for model in NOTIFIED_EVENTS}
