"""Staff decisions against real PostgreSQL, in a routing schema of its own (no relay publishes it, so the outbox
shows exactly what a decision would publish): an override moves the request's place and the history keeps both
decisions; an escalation gives the request a provider of the new tier while its old engagement keeps its place; a
withdrawal takes a waiting request out of routing and leaves a routed one (and its place) alone."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.routing import store
from services.routing.commands import EngagementStarted, UnknownRequest, reassign, withdraw
from services.routing.domain.policy import load_policy
from services.routing.handlers import make_handlers
from services.routing.settings import POLICY_FILE
from shared.contract.envelope import Envelope
from shared.contract.events import AgencySummary, EngagementEscalated, RequestReceived, RequestWithdrawn
from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Tier
from shared.runtime.consumer import RejectEvent
from shared.runtime.outbox import unit_of_work
from tests.support import sample_request

POLICY = load_policy(POLICY_FILE)


async def routed_request(pool: asyncpg.Pool, body: dict | None = None) -> UUID:
    """A request (`body`, a sample by default) submitted and decided by the policy, through the same handler the
    service runs."""
    event = RequestReceived(
        request_id=uuid4(),
        submitted_at=datetime.now(UTC),
        channel="http",
        request=RequestForAssistance.model_validate(body or sample_request()).without_contact(),
    )
    envelope = Envelope.wrap(event, source="intake", correlation_id=str(event.request_id))
    async with unit_of_work(pool) as uow:
        await make_handlers(POLICY)[RequestReceived](uow, envelope, event)
    return event.request_id


async def active(pool: asyncpg.Pool, provider_id: str) -> int:
    return await pool.fetchval("SELECT active FROM providers WHERE provider_id = $1", provider_id)


async def test_reassigning_a_routed_request_moves_its_place_keeps_both_decisions_and_publishes_routed_by_staff(
    routing_pool,
) -> None:
    request_id = await routed_request(routing_pool)
    by_policy = await routing_pool.fetchval("SELECT provider_id FROM requests WHERE request_id = $1", request_id)
    other = "noble" if by_policy != "noble" else "ntoa"
    before = {p: await active(routing_pool, p) for p in (by_policy, other)}

    async with unit_of_work(routing_pool) as uow:
        await reassign(
            uow,
            request_id,
            Tier.CRI_TAC,
            other,
            staff_member="a.rivera",
            reason="agency asked",
            force=False,
            policy=POLICY,
        )

    assert await active(routing_pool, by_policy) == before[by_policy] - 1
    assert await active(routing_pool, other) == before[other] + 1
    history = await routing_pool.fetch(
        "SELECT decided_by, provider_id, staff_member, reason FROM decisions WHERE request_id = $1 ORDER BY id",
        request_id,
    )
    assert [tuple(row) for row in history] == [
        ("policy", by_policy, None, None),
        ("staff", other, "a.rivera", "agency asked"),
    ]
    assert await routing_pool.fetchval("SELECT provider_id FROM requests WHERE request_id = $1", request_id) == other
    published = await routing_pool.fetch("SELECT payload FROM outbox WHERE key = $1 ORDER BY id", str(request_id))
    last = Envelope.model_validate_json(published[-1]["payload"])
    assert last.type == "RequestRouted"
    assert (last.data["decided_by"], last.data["reason"], last.data["provider"]["provider_id"]) == (
        "staff",
        "agency asked",
        other,
    )


async def test_a_request_with_an_engagement_is_not_reassigned_and_nothing_changes(routing_pool) -> None:
    request_id = await routed_request(routing_pool)
    provider_id = await routing_pool.fetchval("SELECT provider_id FROM requests WHERE request_id = $1", request_id)
    async with routing_pool.acquire() as conn:
        await store.hold_place(conn, uuid4(), request_id, provider_id, Tier.CRI_TAC, datetime.now(UTC))
    other = "noble" if provider_id != "noble" else "ntoa"
    load = await active(routing_pool, other)

    with pytest.raises(EngagementStarted):
        async with unit_of_work(routing_pool) as uow:
            await reassign(
                uow, request_id, Tier.CRI_TAC, other, staff_member="a.rivera", reason="late", force=True, policy=POLICY
            )

    assert await active(routing_pool, other) == load
    assert await routing_pool.fetchval("SELECT count(*) FROM decisions WHERE request_id = $1", request_id) == 1


def escalation(request_id: UUID, engagement_id: UUID) -> tuple[Envelope, EngagementEscalated]:
    event = EngagementEscalated(
        engagement_id=engagement_id,
        request_id=request_id,
        from_tier=Tier.CRI_TAC,
        to_tier=Tier.CRITICAL_RESPONSE,
        reason="the incident grew",
        escalated_by="a.rivera",
        agency=AgencySummary.of(RequestForAssistance.model_validate(sample_request()).agency),
        urgency="routine",
        escalated_at=datetime.now(UTC),
    )
    return Envelope.wrap(event, source="engagements", correlation_id=str(request_id)), event


async def test_an_escalated_request_gets_a_provider_of_the_new_tier_by_staff_and_its_engagement_keeps_its_place(
    routing_pool,
) -> None:
    request_id = await routed_request(routing_pool)
    by_policy = await routing_pool.fetchval("SELECT provider_id FROM requests WHERE request_id = $1", request_id)
    engagement_id = uuid4()
    async with routing_pool.acquire() as conn:
        await store.hold_place(conn, engagement_id, request_id, by_policy, Tier.CRI_TAC, datetime.now(UTC))
    critical = "national-policing-institute"
    before = {p: await active(routing_pool, p) for p in (by_policy, critical)}

    envelope, event = escalation(request_id, engagement_id)
    async with unit_of_work(routing_pool) as uow:
        await make_handlers(POLICY)[EngagementEscalated](uow, envelope, event)

    assert await active(routing_pool, by_policy) == before[by_policy]  # freed when the old engagement closes
    assert await active(routing_pool, critical) == before[critical] + 1
    history = await routing_pool.fetch(
        "SELECT decided_by, tier, provider_id, staff_member, reason, rules_fired FROM decisions WHERE request_id = $1"
        " ORDER BY id",
        request_id,
    )
    assert [tuple(row) for row in history][-1] == (
        "staff",
        "critical_response",
        critical,
        "a.rivera",
        "the incident grew",
        ["escalation.cri_tac_to_critical_response"],
    )
    published = await routing_pool.fetch("SELECT payload FROM outbox WHERE key = $1 ORDER BY id", str(request_id))
    last = Envelope.model_validate_json(published[-1]["payload"])
    assert (last.type, last.correlation_id, last.causation_id) == ("RequestRouted", str(request_id), envelope.event_id)
    assert last.data["decided_by"] == "staff"
    assert last.data["escalated_from_engagement_id"] == str(engagement_id)


async def test_an_escalation_of_an_unknown_request_is_rejected(routing_pool) -> None:
    envelope, event = escalation(uuid4(), uuid4())
    with pytest.raises(RejectEvent, match=f"escalation of unknown request {event.request_id}"):
        async with unit_of_work(routing_pool) as uow:
            await make_handlers(POLICY)[EngagementEscalated](uow, envelope, event)


def withdrawal(request_id: UUID) -> tuple[Envelope, RequestWithdrawn]:
    event = RequestWithdrawn(
        request_id=request_id,
        withdrawn_at=datetime.now(UTC),
        withdrawn_by="jlee@springfield.example.gov",
        status_seen="in_review",
        reason="The state academy will train us.",
    )
    return Envelope.wrap(event, source="intake", correlation_id=str(request_id)), event


async def test_a_request_waiting_for_staff_leaves_routing_when_withdrawn_and_cannot_be_assigned(routing_pool):
    request_id = await routed_request(routing_pool, sample_request(assistance__topic_areas=[]))  # too thin: review
    assert await routing_pool.fetchval("SELECT outcome FROM requests WHERE request_id = $1", request_id) == (
        "needs_review"
    )
    loads_before = await routing_pool.fetch("SELECT provider_id, active FROM providers ORDER BY provider_id")
    async with unit_of_work(routing_pool) as uow:
        await make_handlers(POLICY)[RequestWithdrawn](uow, *withdrawal(request_id))
    assert await routing_pool.fetchval("SELECT outcome FROM requests WHERE request_id = $1", request_id) == "withdrawn"
    [decision] = [d for d in await store.decisions_of(routing_pool, request_id) if d.outcome == "withdrawn"]
    assert (decision.decided_by, decision.reason) == ("agency", "The state academy will train us.")
    assert await routing_pool.fetch("SELECT provider_id, active FROM providers ORDER BY provider_id") == loads_before
    with pytest.raises(UnknownRequest, match="withdrawn by its agency"):
        async with unit_of_work(routing_pool) as uow:
            await reassign(
                uow,
                request_id,
                Tier.CRI_TAC,
                "iacp",
                staff_member="a.rivera",
                reason="Staff read it.",
                force=False,
                policy=POLICY,
            )


async def test_a_routed_request_is_not_withdrawn_by_routing_its_place_stays_booked(routing_pool):
    request_id = await routed_request(routing_pool)
    provider_id = await routing_pool.fetchval("SELECT provider_id FROM requests WHERE request_id = $1", request_id)
    held = await active(routing_pool, provider_id)
    async with unit_of_work(routing_pool) as uow:
        envelope, event = withdrawal(request_id)
        assert await withdraw(uow, event) is False
    assert await routing_pool.fetchval("SELECT outcome FROM requests WHERE request_id = $1", request_id) == "routed"
    assert await active(routing_pool, provider_id) == held
