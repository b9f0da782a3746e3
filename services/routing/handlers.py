"""Routing's event handlers (thin translations from events to decisions and back to events) and the staff
reassignment command."""

from datetime import UTC, datetime
from uuid import UUID

from services.routing import store
from services.routing.domain.decision import Decision, assign_in_tier, decide
from services.routing.domain.override import staff_decision
from services.routing.domain.policy import Policy
from services.routing.domain.queue import queue_priority
from shared.contract.envelope import Envelope
from shared.contract.events import (
    AgencySummary,
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    RequestNeedsReview,
    RequestQueued,
    RequestRouted,
    RequestSubmitted,
)
from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Tier
from shared.runtime.consumer import RejectEvent
from shared.runtime.outbox import UnitOfWork

SOURCE = "routing"


def decision_event(
    request_id: UUID,
    request: RequestForAssistance,
    decision: Decision,
    *,
    decided_by: str = "policy",
    reason: str | None = None,
    escalated_from: UUID | None = None,
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
            escalated_from_engagement_id=escalated_from,
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
    *,
    tier: Tier | None = None,
    escalated_from: UUID | None = None,
) -> Decision:
    """Decide and announce: the policy picks the tier, unless one is given (a queued or escalated request)."""
    loads = await store.lock_loads(uow.conn)
    today = datetime.now(UTC).date()
    if tier is None:
        decision = decide(request, loads, policy, today)
    else:
        decision = assign_in_tier(request, tier, loads, policy, today, ["queue.place_freed"])
    if decision.outcome == "routed":
        await store.reserve_place(uow.conn, decision.provider.provider_id)
    await store.record_decision(uow.conn, request_id, decision, decided_by="policy")
    event = decision_event(request_id, request, decision, escalated_from=escalated_from)
    uow.publish(Envelope.wrap(event, source=SOURCE, correlation_id=correlation_id, causation=cause))
    return decision


class UnknownRequest(LookupError):
    """Routing has no such request (or has not consumed its RequestSubmitted yet)."""


class EngagementStarted(ValueError):
    """The request already has an engagement: moving it is an escalation of the engagement, not a reassignment."""


async def reassign(
    uow: UnitOfWork,
    request_id: UUID,
    tier: Tier,
    provider_id: str,
    *,
    staff_member: str,
    reason: str,
    force: bool,
    policy: Policy,
) -> Decision:
    """Staff put a request with a provider: the place moves, the decision is added to the history, and
    RequestRouted (decided_by staff) is published. Raises when the assignment is refused."""
    # Providers first, then the request: the same order as the policy's decisions, so the two never deadlock.
    loads = await store.lock_loads(uow.conn)
    row = await store.lock_request(uow.conn, request_id)
    if row is None:
        raise UnknownRequest(f"no request {request_id}")
    if await store.has_engagement(uow.conn, request_id):
        raise EngagementStarted(f"request {request_id} already has an engagement; escalate the engagement instead")
    held = row["provider_id"] if row["outcome"] == "routed" else None
    decision = staff_decision(
        loads,
        tier,
        provider_id,
        held_provider_id=held,
        force=force,
        today=datetime.now(UTC).date(),
        policy_version=policy.version,
    )
    if held != provider_id:
        if held is not None:
            await store.release_place(uow.conn, held)
        await store.reserve_place(uow.conn, provider_id)
    await store.record_decision(
        uow.conn, request_id, decision, decided_by="staff", reason=reason, staff_member=staff_member
    )
    request = RequestForAssistance.model_validate(row["request"])
    event = decision_event(request_id, request, decision, decided_by="staff", reason=reason)
    uow.publish(Envelope.wrap(event, source=SOURCE, correlation_id=row["correlation_id"]))
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
            await route(
                uow,
                envelope,
                row["request_id"],
                request,
                policy,
                row["correlation_id"],
                tier=event.tier,
                escalated_from=row["escalated_from"],
            )

    async def on_escalated(uow: UnitOfWork, envelope: Envelope, event: EngagementEscalated) -> None:
        """The engagement moved along the continuum: the same request gets a provider of the new tier."""
        loads = await store.lock_loads(uow.conn)
        row = await store.lock_request(uow.conn, event.request_id)
        if row is None:
            raise RejectEvent(f"escalation of unknown request {event.request_id}")
        request = RequestForAssistance.model_validate(row["request"])
        rule = f"escalation.{event.from_tier}_to_{event.to_tier}"
        decision = assign_in_tier(request, event.to_tier, loads, policy, datetime.now(UTC).date(), [rule])
        if decision.outcome == "routed":
            await store.reserve_place(uow.conn, decision.provider.provider_id)
        await store.mark_escalated(uow.conn, event.request_id, event.engagement_id)
        await store.record_decision(
            uow.conn,
            event.request_id,
            decision,
            decided_by="staff",
            reason=event.reason,
            staff_member=event.escalated_by,
        )
        routed = decision_event(
            event.request_id,
            request,
            decision,
            decided_by="staff",
            reason=event.reason,
            escalated_from=event.engagement_id,
        )
        uow.publish(envelope.follow(routed, source=SOURCE))

    return {
        RequestSubmitted: on_submitted,
        EngagementOpened: on_opened,
        EngagementClosed: on_closed,
        EngagementEscalated: on_escalated,
    }
