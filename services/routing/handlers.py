"""Routing's event handlers: thin translations from events to decisions (policy.decide) and back to events."""

from datetime import UTC, datetime
from uuid import UUID

from services.routing import store
from services.routing.policy import Decision, Policy, decide, queue_priority
from shared.contract.envelope import Envelope
from shared.contract.events import (
    AgencySummary,
    EngagementClosed,
    EngagementOpened,
    RequestNeedsReview,
    RequestQueued,
    RequestRouted,
    RequestSubmitted,
)
from shared.contract.requests import RequestForAssistance
from shared.outbox import UnitOfWork

SOURCE = "routing"


def decision_event(
    request_id: UUID,
    request: RequestForAssistance,
    decision: Decision,
    *,
    decided_by: str = "policy",
    reason: str | None = None,
) -> RequestRouted | RequestQueued | RequestNeedsReview:
    """The event that announces a decision."""
    now = datetime.now(UTC)
    agency = AgencySummary.of(request.agency)
    if decision.outcome == "routed":
        return RequestRouted(
            request_id=request_id,
            tier=decision.tier,
            provider=decision.provider.ref(),
            decided_by=decided_by,
            policy_version=decision.policy_version,
            rules_fired=decision.rules_fired,
            reason=reason,
            agency=agency,
            urgency=request.urgency,
            topic_areas=request.assistance.topic_areas,
            confidential=bool(request.incident and request.incident.confidential),
            routed_at=now,
        )
    if decision.outcome == "queued":
        return RequestQueued(request_id=request_id, tier=decision.tier, reason=decision.rules_fired[-1], queued_at=now)
    return RequestNeedsReview(
        request_id=request_id,
        reasons=decision.review_reasons,
        candidate_tiers=decision.candidate_tiers,
        policy_version=decision.policy_version,
        agency=agency,
    )


async def route(
    uow: UnitOfWork,
    cause: Envelope,
    request_id: UUID,
    request: RequestForAssistance,
    policy: Policy,
    correlation_id: str,
) -> Decision:
    loads = await store.lock_loads(uow.conn)
    decision = decide(request, loads, policy, datetime.now(UTC).date())
    if decision.outcome == "routed":
        await store.reserve_place(uow.conn, decision.provider.provider_id)
    await store.record_decision(uow.conn, request_id, decision, decided_by="policy")
    event = decision_event(request_id, request, decision)
    uow.publish(Envelope.wrap(event, source=SOURCE, correlation_id=correlation_id, causation=cause))
    return decision


def make_handlers(policy: Policy):
    async def on_submitted(uow: UnitOfWork, envelope: Envelope, event: RequestSubmitted) -> None:
        is_new = await store.record_request(
            uow.conn,
            event.request_id,
            event.submitted_at,
            envelope.correlation_id,
            event.request.model_dump(mode="json"),
            queue_priority(event.request),
        )
        if is_new:
            await route(uow, envelope, event.request_id, event.request, policy, envelope.correlation_id)

    async def on_opened(uow: UnitOfWork, envelope: Envelope, event: EngagementOpened) -> None:
        await store.hold_place(uow.conn, event.engagement_id, event.request_id, event.provider.provider_id)

    async def on_closed(uow: UnitOfWork, envelope: Envelope, event: EngagementClosed) -> None:
        provider_id = await store.free_place(uow.conn, event.engagement_id)
        if provider_id is None:
            return
        await store.release_place(uow.conn, provider_id)
        # A place freed: the longest-waiting request of that tier (within priority) may now be assigned.
        for row in await store.queued_requests(uow.conn, event.tier, limit=1):
            request = RequestForAssistance.model_validate(row["request"])
            await route(uow, envelope, row["request_id"], request, policy, row["correlation_id"])

    return {RequestSubmitted: on_submitted, EngagementOpened: on_opened, EngagementClosed: on_closed}
