"""Notify's event handlers: remember requests, decide who hears what, record one delivery each.

An event about a request not yet on record waits (parked) for the request's RequestSubmitted, then is planned.
"""

import asyncio
import logging
from uuid import UUID

import asyncpg

from services.notify import store
from services.notify.messages import Preferences, Recipient, RequestFacts, plan_notifications
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
from shared.runtime.consumer import TRANSIENT_ERRORS, EventHandler
from shared.runtime.outbox import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

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


class Notifications:
    """`recorded` is set once recorded deliveries are committed, to wake the dispatcher."""

    def __init__(self, staff: Recipient, preferences: Preferences, recorded: asyncio.Event) -> None:
        self._staff = staff
        self._preferences = preferences
        self._recorded = recorded

    def handlers(self) -> dict[type[EventData], EventHandler]:
        return {model: self.on_event for model in NOTIFIED_EVENTS}

    async def on_event(self, uow: UnitOfWork, envelope: Envelope, event: EventData) -> None:
        request_id = getattr(event, "request_id", None)
        if isinstance(event, RequestSubmitted):
            facts = RequestFacts.from_submitted(event)
            await store.remember_request(uow.conn, facts)
            await self._plan_and_record(uow, envelope, event, facts)
            await self._plan_parked(uow, facts.request_id)
            return
        facts = await store.request_facts(uow.conn, request_id)
        if facts is None and request_id is not None:
            # Engagement events travel on another topic and may overtake the RequestSubmitted they follow.
            await store.park(uow.conn, envelope, request_id)
            return
        await self._plan_and_record(uow, envelope, event, facts)

    async def sweep_parked(self, pool: asyncpg.Pool, every_s: float) -> None:
        """Plan the parked events of every remembered request, every `every_s`, for the life of the service."""
        while True:
            await asyncio.sleep(every_s)
            try:
                async with unit_of_work(pool) as uow:
                    if found := await self._plan_parked(uow):
                        log.info("planned %d parked events whose request another replica remembered", found)
            except TRANSIENT_ERRORS as exc:
                log.warning("notify: parked events not swept (%r); trying again", exc)

    async def _plan_parked(self, uow: UnitOfWork, request_id: UUID | None = None) -> int:
        """Plan the events parked for a request now remembered (for every remembered request when none is named:
        the sweep). Two replicas can overlap: one parks an event while the other remembers its request and finds
        nothing parked yet (neither sees the other's uncommitted rows); the sweep finds those, without a lock on
        every event."""
        found = await store.unpark_remembered(uow.conn, request_id)
        for parked, facts in found:
            await self._plan_and_record(uow, parked, parse_event(parked), facts)
        return len(found)

    async def _plan_and_record(
        self, uow: UnitOfWork, envelope: Envelope, event: EventData, facts: RequestFacts | None
    ) -> None:
        planned = plan_notifications(envelope, event, request=facts, staff=self._staff, preferences=self._preferences)
        await store.record_deliveries(uow.conn, envelope, planned)
        if planned:
            uow.after_commit(self._recorded.set)
