"""Engagements' event handlers: a routed request opens exactly one engagement."""

from uuid import uuid4

from services.engagements import lifecycle, store
from shared.contract.envelope import Envelope
from shared.contract.events import EngagementOpened, RequestRouted
from shared.outbox import UnitOfWork

SOURCE = "engagements"


async def on_routed(uow: UnitOfWork, envelope: Envelope, event: RequestRouted) -> None:
    if await store.open_engagement_of(uow.conn, event.request_id) is not None:
        return  # already open for this request: a redelivery or a reassignment, never a second engagement
    engagement_id = uuid4()
    await store.open_engagement(
        uow.conn,
        engagement_id=engagement_id,
        request_id=event.request_id,
        tier=event.tier.value,
        provider=event.provider,
        agency=event.agency,
        urgency=event.urgency.value,
        status=lifecycle.initial_status(event.tier),
        opened_at=event.routed_at,
        correlation_id=envelope.correlation_id,
        escalated_from=event.escalated_from_engagement_id,
    )
    await store.audit(
        uow.conn, engagement_id, "routing", "opened", {"tier": event.tier, "provider": event.provider.provider_id}
    )
    opened = EngagementOpened(
        engagement_id=engagement_id,
        request_id=event.request_id,
        tier=event.tier,
        provider=event.provider,
        agency=event.agency,
        opened_at=event.routed_at,
        escalated_from_engagement_id=event.escalated_from_engagement_id,
    )
    uow.publish(envelope.follow(opened, source=SOURCE))
    row = await store.open_engagement_of(uow.conn, event.request_id)
    uow.publish(envelope.follow(store.snapshot(row), source=SOURCE))


HANDLERS = {RequestRouted: on_routed}
