"""Routing's use cases: decide a request (by the policy when it arrives, by the queue when a place frees, by staff
on an escalation or an override), keep the providers' places, and replay a candidate policy. Each command locks
what it decides over, lets the domain decide, records the decision and announces it: every event routing
publishes is built here."""

import logging
from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import UUID

import asyncpg

from services.routing import SERVICE, store
from services.routing.domain.decision import Decision, assign_in_tier, decide
from services.routing.domain.history import agency_key
from services.routing.domain.override import staff_decision
from services.routing.domain.policy import Policy
from services.routing.domain.providers import ProviderLoad, ProviderRecord
from services.routing.domain.queue import leaves_on_withdrawal, queue_priority, waited_too_long
from services.routing.domain.what_if import Report, replay
from services.routing.store import RequestRow
from shared.contract.envelope import Envelope
from shared.contract.events import (
    AgencySummary,
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    RequestNeedsReview,
    RequestQueued,
    RequestReceived,
    RequestRouted,
    RequestWithdrawn,
)
from shared.contract.vocabulary import Tier
from shared.runtime.outbox import UnitOfWork

log = logging.getLogger(__name__)

QUEUE_LOOKAHEAD = 50  # waiting requests of a tier weighed when a place frees (SKIP LOCKED, in queue order)


class UnknownRequest(LookupError):
    """Routing has no such request (or has not consumed its RequestReceived yet)."""


class RequestChanged(ValueError):
    """Someone decided about the request since the staff member's page showed it: they must look again."""


class EngagementStarted(ValueError):
    """The request already has an engagement: moving it is an escalation of the engagement, not a reassignment."""


async def seed_registry(conn: asyncpg.Connection, providers: list[ProviderRecord]) -> None:
    """The registry follows its data file at start; the providers' load counters are kept."""
    await store.seed_providers(conn, providers)


async def route_received(uow: UnitOfWork, cause: Envelope, event: RequestReceived, policy: Policy) -> None:
    """A new request is remembered once and decided by the policy; a redelivered one decides nothing."""
    row = RequestRow(event.request_id, cause.correlation_id, event.request)
    key = agency_key(event.request.agency)
    if await store.record_request(uow.conn, row, event.submitted_at, queue_priority(event.request), key):
        loads = await store.lock_loads(uow.conn)
        history = await store.agency_history(uow.conn, key, row.request_id)
        await _apply(uow, row, decide(row.request, loads, policy, _today(), history), cause, loads=loads)


async def hold_place(uow: UnitOfWork, event: EngagementOpened) -> None:
    """The engagement holds the place its request reserved, until it closes; its agency's history gains it."""
    await store.hold_place(
        uow.conn, event.engagement_id, event.request_id, event.provider.provider_id, event.tier, event.opened_at
    )


async def free_place(uow: UnitOfWork, cause: Envelope, event: EngagementClosed, policy: Policy) -> None:
    """An engagement closed: its place is freed once (its agency's history keeps how it closed), and the
    longest-waiting request of its tier (within priority) that the freed room lets a provider take is decided
    again; one waiting for a specialist who is still full waits on."""
    provider_id = await store.free_place(uow.conn, event.engagement_id, event.closed_at, event.outcome)
    if provider_id is None:
        return
    await store.release_place(uow.conn, provider_id)
    loads = await store.lock_loads(uow.conn)
    for row in await store.queued_requests(uow.conn, event.tier, limit=QUEUE_LOOKAHEAD):
        decision = assign_in_tier(row.request, event.tier, loads, policy, _today(), ["queue.place_freed"])
        if decision.outcome != "queued":
            await _apply(uow, row, decision, cause, loads=loads)
            return


async def review_long_waits(uow: UnitOfWork, policy: Policy) -> int:
    """Requests that waited for a place longer than the policy's maximum go to staff; answers how many."""
    rows = await store.queued_since_before(uow.conn, policy.provider_choice.max_wait_days)
    for row in rows:
        await _apply(uow, row, waited_too_long(row.tier, policy), None)
    return len(rows)


async def escalate(uow: UnitOfWork, cause: Envelope, event: EngagementEscalated, policy: Policy) -> None:
    """The engagement moved along the continuum: the same request gets a provider of the new tier, on staff's
    word. Its old engagement keeps its place until it closes."""
    loads, row = await _locked(uow, event.request_id)
    await store.mark_escalated(uow.conn, row.request_id, event.engagement_id, event.to_tier, event.escalated_at)
    rule = f"escalation.{event.from_tier}_to_{event.to_tier}"
    decision = assign_in_tier(row.request, event.to_tier, loads, policy, _today(), [rule])
    escalated = replace(row, escalated_from=event.engagement_id)
    await _apply(
        uow, escalated, decision, cause, decided_by="staff", reason=event.reason, staff_member=event.escalated_by
    )


async def withdraw(uow: UnitOfWork, event: RequestWithdrawn) -> bool:
    """The agency withdrew its request: one waiting for a place or for staff leaves routing (the history keeps
    the withdrawal, decided by the agency); one already routed keeps its place (see `leaves_on_withdrawal`).
    Answers whether the request left."""
    row = await store.lock_request(uow.conn, event.request_id)
    if row is None:
        raise UnknownRequest(f"no request {event.request_id}")
    if not leaves_on_withdrawal(row.outcome):
        log.info("request %s withdrawn while %s: routing keeps it", row.request_id, row.outcome)
        return False
    await store.record_withdrawal(uow.conn, row.request_id, reason=event.reason)
    return True


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
    decisions_seen: int | None = None,
) -> None:
    """Staff put a request with a provider: the place moves, the decision is added to the history, and
    RequestRouted (decided_by staff) is published. Raises when the assignment is refused, or when
    `decisions_seen` (the length of the history the staff member judged by) is no longer the history's."""
    loads, row = await _locked(uow, request_id)
    if decisions_seen is not None and await store.decision_count(uow.conn, request_id) != decisions_seen:
        raise RequestChanged(f"request {request_id} was decided again since the page showed it")
    if row.outcome == "withdrawn":  # it left routing: there is no request to assign any more
        raise UnknownRequest(f"request {request_id} was withdrawn by its agency")
    if await store.has_engagement(uow.conn, request_id):
        raise EngagementStarted(f"request {request_id} already has an engagement; escalate the engagement instead")
    held = row.provider_id if row.outcome == "routed" else None
    decision = staff_decision(
        loads, tier, provider_id, held_provider_id=held, force=force, today=_today(), policy_version=policy.version
    )
    await _apply(uow, row, decision, None, held=held, decided_by="staff", reason=reason, staff_member=staff_member)


async def what_if(conn: asyncpg.Connection, candidate: Policy, baseline: Policy) -> Report:
    """How `candidate` would decide every request the policy has decided, against the registry and loads as
    they are now; reads in a read-only transaction and changes nothing."""
    async with conn.transaction(readonly=True):
        past = await store.policy_decided_requests(conn)
        loads = await store.current_loads(conn)
    return replay(past, loads, candidate, baseline)


async def _locked(uow: UnitOfWork, request_id: UUID) -> tuple[list[ProviderLoad], RequestRow]:
    # Providers first, then the request: the same order as the policy's decisions, so the two never deadlock.
    loads = await store.lock_loads(uow.conn)
    row = await store.lock_request(uow.conn, request_id)
    if row is None:
        raise UnknownRequest(f"no request {request_id}")
    return loads, row


async def _apply(
    uow: UnitOfWork,
    row: RequestRow,
    decision: Decision,
    cause: Envelope | None,
    *,
    held: str | None = None,
    decided_by: str = "policy",
    reason: str | None = None,
    staff_member: str | None = None,
    loads: list[ProviderLoad] | None = None,
) -> None:
    """Record a decision and announce it: the request's place moves from `held` (the provider whose place this
    decision gives up) to the routed provider, the decision joins the history (with the `loads` the policy
    decided against), and its event is published under the request's correlation id."""
    placed = decision.provider.provider_id if decision.provider else None
    moves = placed != held
    await store.record_decision(
        uow.conn,
        row.request_id,
        decision,
        decided_by=decided_by,
        released=held if moves else None,
        reserved=placed if moves else None,
        reason=reason,
        staff_member=staff_member,
        loads=loads,
    )
    event = _announcement(row, decision, decided_by=decided_by, reason=reason)
    uow.publish(Envelope.wrap(event, source=SERVICE, correlation_id=row.correlation_id, causation=cause))


def _announcement(
    row: RequestRow, decision: Decision, *, decided_by: str, reason: str | None
) -> RequestRouted | RequestQueued | RequestNeedsReview:
    """The event that announces a decision."""
    now = datetime.now(UTC)
    request = row.request
    agency = AgencySummary.of(request.agency)
    if decision.outcome == "routed":
        return RequestRouted(
            request_id=row.request_id,
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
            escalated_from_engagement_id=row.escalated_from,
            routed_at=now,
            candidate_tiers=decision.candidate_tiers,
            providers_scored=decision.candidates,
        )
    if decision.outcome == "queued":
        return RequestQueued(
            request_id=row.request_id, tier=decision.tier, reason=decision.rules_fired[-1], queued_at=now
        )
    return RequestNeedsReview(
        request_id=row.request_id,
        reasons=decision.review_reasons,
        candidate_tiers=decision.candidate_tiers,
        policy_version=decision.policy_version,
        agency=agency,
    )


def _today() -> date:
    return datetime.now(UTC).date()
