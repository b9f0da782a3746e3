"""Routing's judgment against real PostgreSQL, in a routing schema of its own, through the handlers the service
runs (no relay publishes it, so the outbox shows exactly what each decision would publish): an agency's history
changes a decision as the policy says; a full specialist makes a request wait, not go to a provider without the
expertise, and a long wait goes to staff; a topic no provider covers goes to staff; the what-if replay judges a
request against the loads recorded with its decision."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.routing import commands, store
from services.routing.domain.policy import load_policy
from services.routing.handlers import make_handlers
from services.routing.settings import POLICY_FILE
from shared.contract.envelope import Envelope
from shared.contract.events import (
    AgencySummary,
    EngagementClosed,
    EngagementOpened,
    EventData,
    ProviderRef,
    RequestReceived,
)
from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Tier
from shared.runtime.outbox import unit_of_work
from tests.support import sample_request, watch_statements

POLICY = load_policy(POLICY_FILE)
HANDLERS = make_handlers(POLICY)


async def handle(pool: asyncpg.Pool, event: EventData, correlation_id: str) -> None:
    envelope = Envelope.wrap(event, source="test", correlation_id=correlation_id)
    async with unit_of_work(pool) as uow:
        await HANDLERS[type(event)](uow, envelope, event)


async def submitted(pool: asyncpg.Pool, body: dict[str, Any]) -> UUID:
    event = RequestReceived(
        request_id=uuid4(),
        submitted_at=datetime.now(UTC),
        channel="http",
        request=RequestForAssistance.model_validate(body).without_contact(),
    )
    await handle(pool, event, str(event.request_id))
    return event.request_id


async def latest(pool: asyncpg.Pool, request_id: UUID) -> asyncpg.Record:
    return await pool.fetchrow(
        "SELECT outcome, tier, provider_id, rules_fired, review_reasons, loads FROM decisions WHERE request_id = $1"
        " ORDER BY id DESC LIMIT 1",
        request_id,
    )


async def published(pool: asyncpg.Pool, request_id: UUID) -> Envelope:
    payload = await pool.fetchval("SELECT payload FROM outbox WHERE key = $1 ORDER BY id DESC LIMIT 1", str(request_id))
    return Envelope.model_validate_json(payload)


def engagement_event(
    kind: type[EngagementOpened] | type[EngagementClosed],
    request_id: UUID,
    engagement_id: UUID,
    body: dict[str, Any],
    tier: Tier,
    provider_id: str,
) -> EventData:
    common = {
        "engagement_id": engagement_id,
        "request_id": request_id,
        "tier": tier,
        "provider": ProviderRef(provider_id=provider_id, name=provider_id),
    }
    if kind is EngagementOpened:
        agency = AgencySummary.of(RequestForAssistance.model_validate(body).agency)
        return EngagementOpened(**common, agency=agency, opened_at=datetime.now(UTC))
    return EngagementClosed(**common, outcome="completed", closed_at=datetime.now(UTC))


def critical_response(agency: dict[str, Any]) -> dict[str, Any]:
    body = sample_request(
        assistance__topic_areas=[],
        incident={
            "summary": "An attack on the courthouse.",
            "occurred_on": datetime.now(UTC).date().isoformat(),
            "major_incident": True,
            "assistance": ["targeted_assistance"],
        },
    )
    return body | {"agency": agency}


async def test_a_received_request_is_decided_and_takes_its_place_in_eight_statements(routing_pool):
    def places(loads) -> dict[str, tuple[int, int]]:
        return {load.record.provider_id: (load.active, load.assigned_total) for load in loads}

    before = places(await store.registry(routing_pool))
    sent = await watch_statements(routing_pool)

    request_id = await submitted(routing_pool, sample_request())

    # BEGIN, the request, the loads (locked), the agency's history (two), the decision with the place it takes (one;
    # it was three), the outbox, COMMIT.
    assert len(sent) == 8, sent
    decision = await latest(routing_pool, request_id)
    assert decision["outcome"] == "routed"
    active, assigned = before[decision["provider_id"]]
    assert places(await store.registry(routing_pool))[decision["provider_id"]] == (active + 1, assigned + 1)


async def test_a_second_critical_response_of_an_agency_goes_to_staff_naming_the_first_others_are_routed(
    routing_pool,
) -> None:
    agency = sample_request()["agency"]
    first = await submitted(routing_pool, critical_response(agency))
    assert tuple((await latest(routing_pool, first))[:2]) == ("routed", "critical_response")
    engagement_id = uuid4()
    body = critical_response(agency)
    npi = "national-policing-institute"
    opened = engagement_event(EngagementOpened, first, engagement_id, body, Tier.CRITICAL_RESPONSE, npi)
    await handle(routing_pool, opened, str(first))
    facts = await routing_pool.fetchrow(
        "SELECT tier, opened_at FROM engagement_places WHERE engagement_id = $1", engagement_id
    )
    assert facts["tier"] == "critical_response" and facts["opened_at"] is not None

    # The same agency, its name spelled otherwise (intake's recognition), asks again.
    again = await submitted(routing_pool, critical_response(agency | {"name": f"  {agency['name'].upper()} "}))
    decision = await latest(routing_pool, again)
    today = datetime.now(UTC).date()
    assert decision["outcome"] == "needs_review"
    assert decision["review_reasons"] == [
        f"the agency had a Critical Response on {today}, within 730 days: a second one may call for an "
        "organizational_assessment; staff to judge"
    ]
    assert f"history.repeat_critical_response: the agency had a Critical Response on {today}" in decision["rules_fired"]
    event = await published(routing_pool, again)
    assert event.type == "RequestNeedsReview"
    assert event.data["candidate_tiers"] == ["critical_response"]

    other = await submitted(routing_pool, critical_response(sample_request()["agency"]))
    assert tuple((await latest(routing_pool, other))[:2]) == ("routed", "critical_response")


async def test_training_asked_during_an_open_assessment_goes_to_staff_until_the_assessment_closes(routing_pool):
    agency = sample_request()["agency"]
    concerns = {
        "issues": ["community_trust"],
        "description": "Complaints have grown for years.",
        "long_term_assistance_wanted": True,
        "commitment_to_implement": True,
    }
    assessment = sample_request(assistance__topic_areas=[], systemic_concerns=concerns) | {"agency": agency}
    assessed = await submitted(routing_pool, assessment)
    assert tuple((await latest(routing_pool, assessed))[:3]) == ("routed", "organizational_assessment", "oa-provider")
    training = sample_request() | {"agency": agency}
    during = await submitted(routing_pool, training)
    assert (await latest(routing_pool, during))["outcome"] == "needs_review"

    engagement_id = uuid4()
    tier = Tier.ORGANIZATIONAL_ASSESSMENT
    for kind in (EngagementOpened, EngagementClosed):
        await handle(
            routing_pool, engagement_event(kind, assessed, engagement_id, assessment, tier, "oa-provider"), "c"
        )
    closed = await routing_pool.fetchrow(
        "SELECT closed_at, outcome FROM engagement_places WHERE engagement_id = $1", engagement_id
    )
    assert closed["closed_at"] is not None and closed["outcome"] == "completed"
    after = await submitted(routing_pool, training)
    assert tuple((await latest(routing_pool, after))[:2]) == ("routed", "cri_tac")


CAMPUS = {"agency__type": "campus", "agency__sworn_officers": 40, "assistance__topic_areas": ["campus_safety"]}


async def test_a_full_specialist_makes_a_request_wait_its_place_goes_to_it_and_a_long_wait_goes_to_staff(
    routing_pool,
) -> None:
    loads = {
        r["provider_id"]: r["active"] for r in await routing_pool.fetch("SELECT provider_id, active FROM providers")
    }
    await routing_pool.execute("UPDATE providers SET active = (record->>'capacity')::int WHERE provider_id = 'iaclea'")
    waiting = await submitted(routing_pool, sample_request(**CAMPUS))
    decision = await latest(routing_pool, waiting)
    assert (decision["outcome"], decision["tier"], decision["provider_id"]) == ("queued", "cri_tac", None)
    assert decision["rules_fired"][-1] == "queue.all_specialists_full"
    assert (await published(routing_pool, waiting)).type == "RequestQueued"
    now = {r["provider_id"]: r["active"] for r in await routing_pool.fetch("SELECT provider_id, active FROM providers")}
    assert {p: a for p, a in now.items() if p != "iaclea"} == {p: a for p, a in loads.items() if p != "iaclea"}
    # The loads it was decided against are kept with the decision.
    assert {e["provider_id"]: e["active"] for e in decision["loads"]}["iaclea"] == 12

    # An iaclea engagement closes: its place goes to the waiting campus request.
    engagement_id, holder = uuid4(), uuid4()
    async with routing_pool.acquire() as conn:
        await store.hold_place(conn, engagement_id, holder, "iaclea", Tier.CRI_TAC, datetime.now(UTC))
    closing = engagement_event(EngagementClosed, holder, engagement_id, {}, Tier.CRI_TAC, "iaclea")
    await handle(routing_pool, closing, "close")
    assert tuple((await latest(routing_pool, waiting))[:3]) == ("routed", "cri_tac", "iaclea")
    assert await routing_pool.fetchval("SELECT last_assigned_at FROM providers WHERE provider_id = 'iaclea'")

    # Another waits; a month on, staff hear of it.
    late = await submitted(routing_pool, sample_request(**CAMPUS))
    assert (await latest(routing_pool, late))["outcome"] == "queued"
    await routing_pool.execute(
        "UPDATE decisions SET decided_at = now() - interval '31 days' WHERE request_id = $1", late
    )
    async with unit_of_work(routing_pool) as uow:
        assert await commands.review_long_waits(uow, POLICY) == 1
    decision = await latest(routing_pool, late)
    assert decision["outcome"] == "needs_review"
    assert decision["review_reasons"] == [
        "waited for a place with a cri_tac provider beyond the 30-day maximum: staff to place it"
    ]
    assert (await published(routing_pool, late)).type == "RequestNeedsReview"
    await routing_pool.execute("UPDATE providers SET active = 0 WHERE provider_id = 'iaclea'")


async def test_a_topic_no_provider_covers_goes_to_staff_with_that_reason(routing_pool) -> None:
    request_id = await submitted(routing_pool, sample_request(assistance__topic_areas=["victim_services"]))
    decision = await latest(routing_pool, request_id)
    assert decision["outcome"] == "needs_review"
    assert decision["review_reasons"] == ["no cri_tac provider covers the topics asked for: victim_services"]
    event = await published(routing_pool, request_id)
    assert (event.type, event.data["reasons"]) == ("RequestNeedsReview", decision["review_reasons"])


async def test_replay_judges_a_past_request_against_the_loads_of_its_decision(routing_pool) -> None:
    await routing_pool.execute("UPDATE providers SET active = (record->>'capacity')::int WHERE provider_id = 'iaclea'")
    queued = await submitted(routing_pool, sample_request(**CAMPUS))
    await routing_pool.execute("UPDATE providers SET active = 0 WHERE provider_id = 'iaclea'")  # room again today

    async with routing_pool.acquire() as conn:
        report = await commands.what_if(conn, POLICY, POLICY)
    assert queued not in {change.request_id for change in report.changes}  # judged by iaclea full, as it was

    await routing_pool.execute("UPDATE decisions SET loads = NULL WHERE request_id = $1", queued)  # as before 0004
    async with routing_pool.acquire() as conn:
        report = await commands.what_if(conn, POLICY, POLICY)
    [change] = [change for change in report.changes if change.request_id == queued]
    assert (str(change.before), str(change.after), change.cause) == ("queued cri_tac", "routed cri_tac/iaclea", "loads")
    assert report.without_loads >= 1
