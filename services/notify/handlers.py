"""Notify's event handlers: remember requests, decide who hears what, record one delivery each."""

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


def make_handlers(staff: Recipient, preferences: Preferences) -> dict[type[EventData], EventHandler]:
    async def on_event(uow: UnitOfWork, envelope: Envelope, event: EventData) -> None:
        if isinstance(event, RequestSubmitted):
            facts = RequestFacts.from_submitted(event)
            await store.remember_request(uow.conn, facts)
        else:
            facts = await store.request_facts(uow.conn, getattr(event, "request_id", None))
        planned = plan_notifications(envelope, event, request=facts, staff=staff, preferences=preferences)
        await store.record_deliveries(uow.conn, envelope, planned)

    return {model: on_event for model in NOTIFIED_EVENTS}
