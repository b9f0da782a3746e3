"""Engagements' event handlers: each event of cri.requests (and cri.requests.contacts) it follows, mapped to its
command. A received request and its contact person are kept for its engagement's page; review and queueing put it in
the dashboard's queues; routing (which opens the engagement) or withdrawal takes it out."""

from services.engagements import commands
from services.engagements.domain.deadlines import DeadlineClock
from services.engagements.store import PostgresStore
from shared.contract.envelope import Envelope
from shared.contract.events import (
    RequestContactGiven,
    RequestNeedsReview,
    RequestQueued,
    RequestReceived,
    RequestRouted,
    RequestSubmitted,
    RequestWithdrawn,
)
from shared.runtime.consumer import EventHandler
from shared.runtime.outbox import UnitOfWork


def make_handlers(clock: DeadlineClock) -> dict[type, EventHandler]:
    async def on_received(uow: UnitOfWork, _envelope: Envelope, event: RequestReceived) -> None:
        await commands.remember_request(PostgresStore(uow.conn), event)

    async def on_contact(uow: UnitOfWork, _envelope: Envelope, event: RequestContactGiven) -> None:
        await commands.remember_contact(PostgresStore(uow.conn), event)

    async def on_submitted(uow: UnitOfWork, _envelope: Envelope, event: RequestSubmitted) -> None:
        received, contact = event.parts()
        store = PostgresStore(uow.conn)
        await commands.remember_request(store, received)
        await commands.remember_contact(store, contact)

    async def on_needs_review(uow: UnitOfWork, envelope: Envelope, event: RequestNeedsReview) -> None:
        await commands.hold_for_review(PostgresStore(uow.conn), event, envelope.occurred_at)

    async def on_queued(uow: UnitOfWork, _envelope: Envelope, event: RequestQueued) -> None:
        await commands.hold_for_room(PostgresStore(uow.conn), event)

    async def on_routed(uow: UnitOfWork, envelope: Envelope, event: RequestRouted) -> None:
        await commands.open_engagement(PostgresStore(uow.conn), uow, clock, event, cause=envelope)

    async def on_withdrawn(uow: UnitOfWork, _envelope: Envelope, event: RequestWithdrawn) -> None:
        await commands.stop_waiting(PostgresStore(uow.conn), event.request_id)

    return {
        RequestReceived: on_received,
        RequestContactGiven: on_contact,
        RequestSubmitted: on_submitted,
        RequestNeedsReview: on_needs_review,
        RequestQueued: on_queued,
        RequestRouted: on_routed,
        RequestWithdrawn: on_withdrawn,
    }
