"""Engagements' use cases: keep a submitted request and follow where it waits for routing, open an engagement for
a routed request, record a milestone, escalate, close, fire missed deadlines, add and move an assessment's
recommendations. Each loads what it needs, lets the domain decide,
and writes the change, its audit entry, its deadline and its events in the caller's unit of work. Every event
the service publishes is built here; each change of an engagement is followed by a fresh snapshot of it.

Optimistic concurrency: a change applies only to the version the caller last saw. Who acted (`actor`) is always
the caller's principal (`Principal.actor`: the signed-in person or the API key), never a name from a body."""

from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from services.engagements import SERVICE
from services.engagements.domain import lifecycle, recommendations
from services.engagements.domain.deadlines import DeadlineClock
from services.engagements.domain.recommendations import RecommendationStatus
from services.engagements.store import EngagementRow, MissedDeadline
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import (
    AgencySummary,
    DeadlineMissed,
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    EngagementSnapshot,
    EngagementStatusChanged,
    MilestoneReached,
    ProviderRef,
    RequestContactGiven,
    RequestNeedsReview,
    RequestQueued,
    RequestReceived,
    RequestRouted,
)
from shared.contract.requests import AssistanceRequested, Contact
from shared.contract.vocabulary import Tier


class Store(Protocol):
    """What the commands read and write (`store.PostgresStore` in the caller's transaction)."""

    async def open_engagement(
        self,
        *,
        engagement_id: UUID,
        request_id: UUID,
        tier: Tier,
        provider: ProviderRef,
        agency: AgencySummary,
        urgency: str,
        status: str,
        opened_at: datetime,
        first_contact_at: datetime | None,
        correlation_id: str,
        escalated_from: UUID | None,
        confidential: bool,
        opened_by: str,
        audit_detail: dict[str, Any],
        deadline: tuple[str, datetime] | None,
    ) -> EngagementRow | None: ...

    async def load(self, engagement_id: UUID) -> EngagementRow | None: ...

    async def remember_request(
        self, request_id: UUID, submitted_at: datetime, request: AssistanceRequested
    ) -> None: ...

    async def remember_contact(self, request_id: UUID, contact: Contact) -> None: ...

    async def set_queue(
        self, request_id: UUID, queue: str | None, since: datetime | None, reason: str | None
    ) -> None: ...

    async def record_milestone(
        self,
        engagement_id: UUID,
        expected_version: int,
        *,
        status: str,
        entry: dict[str, Any],
        at: datetime,
        first_contact: bool,
    ) -> EngagementRow | None: ...

    async def close(
        self, engagement_id: UUID, expected_version: int, *, status: str, outcome: str, at: datetime
    ) -> EngagementRow | None: ...

    async def audit(
        self, engagement_id: UUID, actor: str, action: str, detail: dict, reason: str | None = None
    ) -> None: ...

    async def set_deadline(self, engagement_id: UUID, deadline: tuple[str, datetime] | None) -> None: ...

    async def claim_missed_deadlines(self, limit: int) -> list[MissedDeadline]: ...

    async def mark_overdue(self, engagement_ids: list[UUID]) -> list[EngagementRow]: ...

    async def add_recommendation(
        self, engagement_id: UUID, recommendation_id: UUID, text: str, status: str, by: str
    ) -> None: ...

    async def recommendation_status(self, engagement_id: UUID, recommendation_id: UUID) -> str | None: ...

    async def change_recommendation(
        self, recommendation_id: UUID, current: str, new: str, by: str, note: str | None
    ) -> bool: ...


class Outbox(Protocol):
    """Where events go: written with the transaction's changes, published once it commits (`UnitOfWork`)."""

    def publish(self, envelope: Envelope) -> None: ...


class EngagementNotFound(LookupError):
    pass


class RecommendationNotFound(LookupError):
    pass


class StaleVersion(Exception):
    """Someone changed the engagement since the caller read it."""

    def __init__(self, expected: int) -> None:
        super().__init__(f"the engagement is no longer at version {expected}: reload it and try again")


async def remember_request(store: Store, received: RequestReceived) -> None:
    """Keep the request as submitted, for its engagement's page (a redelivery changes nothing)."""
    await store.remember_request(received.request_id, received.submitted_at, received.request)


async def remember_contact(store: Store, given: RequestContactGiven) -> None:
    """Keep the request's contact person, for the staff and the provider of its engagement (it may come before or
    after the request; a redelivery changes nothing)."""
    await store.remember_contact(given.request_id, given.contact)


async def hold_for_review(store: Store, event: RequestNeedsReview, at: datetime) -> None:
    """The request waits, since `at`, for staff to decide (the dashboard's review queue)."""
    await store.set_queue(event.request_id, "review", at, "; ".join(event.reasons))


async def hold_for_room(store: Store, event: RequestQueued) -> None:
    """The request waits for a provider of its tier with room (the dashboard's waiting queue)."""
    await store.set_queue(event.request_id, "waiting", event.queued_at, event.reason)


async def stop_waiting(store: Store, request_id: UUID) -> None:
    """Routing decided (routed) or the agency withdrew: the request waits no more."""
    await store.set_queue(request_id, None, None, None)


async def open_engagement(
    store: Store, outbox: Outbox, clock: DeadlineClock, routed: RequestRouted, cause: Envelope
) -> None:
    """Open the routed request's engagement, with its first deadline, and take the request out of the queues;
    nothing more when one is already open for it (a redelivery or a reassignment, never a second engagement)."""
    status = lifecycle.initial_status(routed.tier)
    # An assessment opens with its kickoff, which is its first contact.
    first_contact = status == lifecycle.first_contact_milestone(routed.tier)
    opened = await store.open_engagement(
        engagement_id=uuid4(),
        request_id=routed.request_id,
        tier=routed.tier,
        provider=routed.provider,
        agency=routed.agency,
        urgency=routed.urgency,
        status=status,
        opened_at=routed.routed_at,
        first_contact_at=routed.routed_at if first_contact else None,
        correlation_id=cause.correlation_id,
        escalated_from=routed.escalated_from_engagement_id,
        confidential=routed.confidential,
        opened_by="routing",
        audit_detail={"tier": routed.tier, "provider": routed.provider.provider_id},
        deadline=clock.next(routed.tier, status, routed.routed_at),
    )
    if opened is None:
        return
    engagement_id = opened.engagement_id
    event = EngagementOpened(
        engagement_id=engagement_id,
        request_id=routed.request_id,
        tier=routed.tier,
        provider=routed.provider,
        agency=routed.agency,
        opened_at=routed.routed_at,
        escalated_from_engagement_id=routed.escalated_from_engagement_id,
    )
    _publish(outbox, opened, [event], cause=cause)


async def record_milestone(
    store: Store,
    outbox: Outbox,
    clock: DeadlineClock,
    engagement_id: UUID,
    *,
    milestone: str,
    detail: str | None,
    note: str | None,
    actor: str,
    expected_version: int,
) -> EngagementRow:
    engagement = await _load(store, engagement_id, expected_version)
    tier, before = engagement.tier, engagement.status
    after = lifecycle.record_milestone(tier, before, milestone, detail=detail)
    now = datetime.now(UTC)
    entry = {"milestone": milestone, "at": now.isoformat(), "detail": detail, "note": note, "recorded_by": actor}
    first_contact = milestone == lifecycle.first_contact_milestone(tier)
    updated = await store.record_milestone(
        engagement_id, expected_version, status=after, entry=entry, at=now, first_contact=first_contact
    )
    updated = _applied(updated, expected_version)
    await store.audit(engagement_id, actor, "milestone", {"milestone": milestone, "detail": detail}, note)
    await store.set_deadline(engagement_id, clock.next(tier, after, now))
    events: list[EventData] = [
        MilestoneReached(
            engagement_id=engagement_id,
            request_id=engagement.request_id,
            tier=tier,
            milestone=milestone,
            reached_at=now,
            note=note,
            recorded_by=actor,
        )
    ]
    if after != before:
        events.append(_status_changed(engagement, after, now))
    _publish(outbox, updated, events)
    return updated


async def close(
    store: Store, outbox: Outbox, engagement_id: UUID, *, outcome: str, note: str, actor: str, expected_version: int
) -> EngagementRow:
    engagement = await _load(store, engagement_id, expected_version)
    after = lifecycle.close(engagement.tier, engagement.status, outcome)
    updated = await _close(store, engagement, after, outcome, expected_version)
    await store.audit(engagement_id, actor, "closed", {"outcome": outcome}, note)
    _publish(outbox, updated, _closing_events(engagement, updated))
    return updated


async def escalate(
    store: Store,
    outbox: Outbox,
    engagement_id: UUID,
    *,
    to_tier: Tier,
    reason: str,
    actor: str,
    expected_version: int,
) -> EngagementRow:
    """Close the engagement as escalated; routing assigns the new tier's provider and the engagement it opens
    links back here (escalated_from)."""
    engagement = await _load(store, engagement_id, expected_version)
    tier = engagement.tier
    after = lifecycle.escalate(tier, engagement.status, to_tier)
    updated = await _close(store, engagement, after, lifecycle.Outcome.ESCALATED, expected_version)
    await store.audit(engagement_id, actor, "escalated", {"from_tier": tier, "to_tier": to_tier}, reason)
    escalated = EngagementEscalated(
        engagement_id=engagement_id,
        request_id=engagement.request_id,
        from_tier=tier,
        to_tier=to_tier,
        reason=reason,
        escalated_by=actor,
        agency=engagement.agency,
        urgency=engagement.urgency,
        escalated_at=updated.closed_at,
    )
    # Escalated last: it is the request's latest news (intake shows it), after the close that frees capacity.
    _publish(outbox, updated, [*_closing_events(engagement, updated), escalated])
    return updated


async def fire_missed_deadlines(store: Store, outbox: Outbox, batch: int) -> int:
    """Fire up to `batch` due deadlines: flag their engagements overdue and publish DeadlineMissed for each.
    The overdue flag is derived state: it leaves the engagement's version as it is. Returns how many fired."""
    missed = await store.claim_missed_deadlines(batch)
    if not missed:
        return 0
    engagements = await store.mark_overdue(list({deadline.engagement_id for deadline in missed}))
    by_id = {engagement.engagement_id: engagement for engagement in engagements}
    for deadline in missed:
        engagement = by_id[deadline.engagement_id]
        event = DeadlineMissed(
            engagement_id=engagement.engagement_id,
            request_id=engagement.request_id,
            tier=engagement.tier,
            provider=engagement.provider,
            milestone=deadline.milestone,
            due_at=deadline.due_at,
            detected_at=deadline.fired_at,
        )
        _publish(outbox, engagement, [event])
    return len(missed)


async def add_recommendation(store: Store, engagement_id: UUID, *, text: str, actor: str) -> UUID:
    """Propose a recommendation of an assessment in findings or monitoring; recommendations publish no event
    (the contract has none for them)."""
    engagement = await store.load(engagement_id)
    if engagement is None:
        raise EngagementNotFound(f"no engagement {engagement_id}")
    status = recommendations.propose_recommendation(engagement.tier, engagement.status)
    recommendation_id = uuid4()
    await store.add_recommendation(engagement_id, recommendation_id, text, status, actor)
    await store.audit(engagement_id, actor, "recommendation_added", {"recommendation_id": str(recommendation_id)})
    return recommendation_id


async def change_recommendation(
    store: Store,
    engagement_id: UUID,
    recommendation_id: UUID,
    *,
    status: RecommendationStatus,
    note: str | None,
    actor: str,
) -> None:
    current = await store.recommendation_status(engagement_id, recommendation_id)
    if current is None:
        raise RecommendationNotFound(f"no recommendation {recommendation_id} in engagement {engagement_id}")
    new = recommendations.change_recommendation(RecommendationStatus(current), status)
    if not await store.change_recommendation(recommendation_id, current, new, actor, note):
        raise lifecycle.InvalidTransition("the recommendation changed status meanwhile: reload it and try again", [])
    detail = {"recommendation_id": str(recommendation_id), "from": current, "to": new}
    await store.audit(engagement_id, actor, "recommendation_changed", detail, note)


async def _load(store: Store, engagement_id: UUID, expected_version: int) -> EngagementRow:
    engagement = await store.load(engagement_id)
    if engagement is None:
        raise EngagementNotFound(f"no engagement {engagement_id}")
    if engagement.version != expected_version:
        raise StaleVersion(expected_version)
    return engagement


def _applied(updated: EngagementRow | None, expected_version: int) -> EngagementRow:
    """The updated engagement; None means a concurrent change won the race between our read and our update."""
    if updated is None:
        raise StaleVersion(expected_version)
    return updated


async def _close(
    store: Store, engagement: EngagementRow, status: str, outcome: str, expected_version: int
) -> EngagementRow:
    engagement_id = engagement.engagement_id
    updated = await store.close(engagement_id, expected_version, status=status, outcome=outcome, at=datetime.now(UTC))
    updated = _applied(updated, expected_version)
    await store.set_deadline(engagement_id, None)
    return updated


def _closing_events(before: EngagementRow, closed: EngagementRow) -> list[EventData]:
    """EngagementStatusChanged to closed, then EngagementClosed, at the time `closed` was closed."""
    at = closed.closed_at
    event = EngagementClosed(
        engagement_id=closed.engagement_id,
        request_id=closed.request_id,
        tier=closed.tier,
        provider=closed.provider,
        outcome=closed.outcome,
        closed_at=at,
    )
    return [_status_changed(before, closed.status, at), event]


def _status_changed(before: EngagementRow, after: str, at: datetime) -> EngagementStatusChanged:
    return EngagementStatusChanged(
        engagement_id=before.engagement_id,
        request_id=before.request_id,
        from_status=before.status,
        to_status=after,
        changed_at=at,
    )


def _snapshot(engagement: EngagementRow) -> EngagementSnapshot:
    """The dashboards' view of an engagement (no personal contact data is stored here at all)."""
    return EngagementSnapshot(
        engagement_id=engagement.engagement_id,
        request_id=engagement.request_id,
        tier=engagement.tier,
        # Dashboards see who the provider is, not its mailbox.
        provider=engagement.provider.model_copy(update={"contact_email": None}),
        agency=engagement.agency,
        status=engagement.status,
        milestones=[m["milestone"] for m in engagement.milestones],
        opened_at=engagement.opened_at,
        first_contact_at=engagement.first_contact_at,
        closed_at=engagement.closed_at,
        overdue=engagement.overdue,
        version=engagement.version,
    )


def _publish(
    outbox: Outbox, engagement: EngagementRow, events: list[EventData], *, cause: Envelope | None = None
) -> None:
    """Publish `events` of an engagement and its fresh snapshot, all under the request's correlation id."""
    for event in [*events, _snapshot(engagement)]:
        outbox.publish(Envelope.wrap(event, source=SERVICE, correlation_id=engagement.correlation_id, causation=cause))
