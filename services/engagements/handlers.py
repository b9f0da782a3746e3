"""Engagements' event handlers: a routed request opens exactly one engagement, with its first deadline."""

from uuid import uuid4

from services.engagements import commands, store
from services.engagements.domain import lifecycle
from services.engagements.domain.deadlines import DeadlineClock
from shared.contract.envelope import Envelope
from shared.contract.events import EngagementOpened, RequestRouted
from shared.runtime.consumer import EventHandler
from shared.runtime.outbox import UnitOfWork


def make_handlers(clock: DeadlineClock) -> dict[type, EventHandler]:
    async def on_routed(uow: UnitOfWork, envelope: Envelope, event: RequestRouted) -> None:
        if await store.open_engagement_of(uow.conn, event.request_id) is not None:
            return  # already open for this request: a redelivery or a reassignment, never a second engagement
        engagement_id = uuid4()
        status = lifecycle.initial_status(event.tier)
        # An assessment opens with its kickoff, which is its first contact.
        first_contact = status == lifecycle.first_contact_milestone(event.tier)
        await store.open_engagement(
            uow.conn,
            engagement_id=engagement_id,
            request_id=event.request_id,
            tier=event.tier.value,
            provider=event.provider,
            agency=event.agency,
            urgency=event.urgency.value,
            status=status,
            opened_at=event.routed_at,
            first_contact_at=event.routed_at if first_contact else None,
            correlation_id=envelope.correlation_id,
            escalated_from=event.escalated_from_engagement_id,
        )
        await store.audit(
            uow.conn, engagement_id, "routing", "opened", {"tier": event.tier, "provider": event.provider.provider_id}
        )
        await store.set_deadline(uow.conn, engagement_id, clock.next(event.tier, status, event.routed_at))
        opened = EngagementOpened(
            engagement_id=engagement_id,
            request_id=event.request_id,
            tier=event.tier,
            provider=event.provider,
            agency=event.agency,
            opened_at=event.routed_at,
            escalated_from_engagement_id=event.escalated_from_engagement_id,
        )
        row = await store.open_engagement_of(uow.conn, event.request_id)
        for data in (opened, store.snapshot(row)):
            uow.publish(envelope.follow(data, source=commands.SOURCE))

    return {RequestRouted: on_routed}
