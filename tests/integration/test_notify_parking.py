"""Notify's parking of events that overtake their request, on a real PostgreSQL, with two replicas at once."""

import asyncio
from pathlib import Path

import pytest

from services.notify import store, workers
from services.notify.commands import Notifications
from services.notify.domain.preferences import Preferences
from services.notify.handlers import handlers
from shared.contract.envelope import Envelope
from shared.contract.events import RequestSubmitted
from shared.contract.requests import RequestForAssistance
from shared.runtime.outbox import unit_of_work
from tests.support import eventually
from tests.unit.test_notify_planning import CONTACT, PROVIDER, STAFF, contact_given, facts_of, opened, received, routed
from tests.unit.test_notify_withdrawals import withdrawn

MIGRATIONS = Path(store.__file__).parent / "migrations"


@pytest.fixture
async def pool(schema_pool):
    return await schema_pool(MIGRATIONS)


async def test_an_event_parked_by_one_replica_while_another_remembers_its_request_is_planned_by_the_sweep(pool):
    notifications = Notifications(STAFF, Preferences(), asyncio.Event())
    handle = handlers(notifications)

    async def on_event(uow, envelope, event) -> None:
        await handle[type(event)](uow, envelope, event)

    request = received()
    opening = opened(facts_of(request))

    async def remember_request() -> None:
        async with unit_of_work(pool) as uow:
            for event in (request, contact_given(request)):
                await on_event(uow, Envelope.wrap(event, source="test", correlation_id="c"), event)

    # One replica parks the opening (its request unknown yet) and has not committed when another replica
    # remembers the request and finds nothing parked: the opening is left parked.
    async with unit_of_work(pool) as parking:
        await on_event(parking, Envelope.wrap(opening, source="test", correlation_id="c"), opening)
        await remember_request()
    assert await pool.fetchval("SELECT count(*) FROM parked_events") == 1

    sweeping = asyncio.create_task(workers.sweep_parked(pool, notifications, every_s=0.05))
    try:

        async def unparked() -> bool:
            return await pool.fetchval("SELECT count(*) FROM parked_events") == 0

        await eventually(unparked, what="the sweep to plan the parked opening")
    finally:
        sweeping.cancel()
    assert await pool.fetchval("SELECT count(*) FROM deliveries WHERE cause_event_type = 'EngagementOpened'") >= 1


async def test_a_withdrawal_racing_routing_reaches_the_provider_in_either_order(pool):
    """The provider a request was routed to and its withdrawal are remembered with the request's facts, so the
    provider hears of the withdrawal whichever event comes first."""
    handle = handlers(Notifications(STAFF, Preferences(), asyncio.Event()))
    for order in ("routed first", "withdrawn first"):
        request = received()
        facts = facts_of(request)
        events = [routed(facts), withdrawn(facts)]
        for event in [request, contact_given(request), *(events if order == "routed first" else reversed(events))]:
            async with unit_of_work(pool) as uow:
                await handle[type(event)](uow, Envelope.wrap(event, source="test", correlation_id="c"), event)
        told = await pool.fetchval(
            "SELECT count(*) FROM deliveries WHERE kind = 'request_withdrawn_provider' AND request_id = $1",
            request.request_id,
        )
        assert told == 1, order
        remembered = await store.request_facts(pool, request.request_id)
        assert remembered.provider == PROVIDER and remembered.withdrawn_at is not None


async def told(pool, request_id) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT kind, address FROM deliveries WHERE request_id = $1 ORDER BY kind", request_id)
    return [(row["kind"], row["address"]) for row in rows]


@pytest.mark.parametrize("order", ["request first", "contact person first"])
async def test_a_request_is_acknowledged_once_both_it_and_its_contact_person_have_come(pool, order):
    """RequestReceived and RequestContactGiven travel on two topics: whichever comes first waits for the other."""
    handle = handlers(Notifications(STAFF, Preferences(), asyncio.Event()))
    request = received()
    first, second = (request, contact_given(request))[:: 1 if order == "request first" else -1]
    for event in (first, second):
        if event is second:
            assert await told(pool, request.request_id) == []
        async with unit_of_work(pool) as uow:
            await handle[type(event)](uow, Envelope.wrap(event, source="test", correlation_id="c"), event)
    assert await told(pool, request.request_id) == [("request_received", CONTACT.email)]
    assert await pool.fetchval("SELECT count(*) FROM parked_events WHERE request_id = $1", request.request_id) == 0


async def test_notify_keeps_no_phone_number(pool):
    handle = handlers(Notifications(STAFF, Preferences(), asyncio.Event()))
    request = received()
    for event in (request, contact_given(request)):
        async with unit_of_work(pool) as uow:
            await handle[type(event)](uow, Envelope.wrap(event, source="test", correlation_id="c"), event)
    kept = await pool.fetchval("SELECT addressee::text FROM request_contacts WHERE request_id = $1", request.request_id)
    assert CONTACT.email in kept and CONTACT.phone not in kept


async def test_a_request_submitted_before_the_split_is_acknowledged_as_its_two_parts(pool):
    handle = handlers(Notifications(STAFF, Preferences(), asyncio.Event()))
    request = received()
    legacy = RequestSubmitted(
        request_id=request.request_id,
        submitted_at=request.submitted_at,
        channel=request.channel,
        request=RequestForAssistance(**dict(request.request), contact=CONTACT),
    )
    envelope = Envelope.wrap(legacy, source="intake", correlation_id="c")
    for _redelivery in range(2):
        async with unit_of_work(pool) as uow:
            await handle[RequestSubmitted](uow, envelope, legacy)
    assert await told(pool, request.request_id) == [("request_received", CONTACT.email)]
    assert (await store.request_facts(pool, request.request_id)) == facts_of(request)
