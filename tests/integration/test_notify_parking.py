"""Notify's parking of events that overtake their request, on a real PostgreSQL, with two replicas at once."""

import asyncio
from pathlib import Path

import pytest

from services.notify import store, workers
from services.notify.commands import Notifications
from services.notify.domain.preferences import Preferences
from services.notify.domain.request_facts import RequestFacts
from services.notify.handlers import handlers
from shared.contract.envelope import Envelope
from shared.runtime.outbox import unit_of_work
from tests.support import eventually
from tests.unit.test_notify_planning import PROVIDER, STAFF, opened, routed, submitted
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

    request = submitted()
    opening = opened(RequestFacts.from_submitted(request))

    async def remember_request() -> None:
        async with unit_of_work(pool) as uow:
            await on_event(uow, Envelope.wrap(request, source="test", correlation_id="c"), request)

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
        request = submitted()
        facts = RequestFacts.from_submitted(request)
        events = [routed(facts), withdrawn(facts)]
        for event in [request, *(events if order == "routed first" else reversed(events))]:
            async with unit_of_work(pool) as uow:
                await handle[type(event)](uow, Envelope.wrap(event, source="test", correlation_id="c"), event)
        told = await pool.fetchval(
            "SELECT count(*) FROM deliveries WHERE kind = 'request_withdrawn_provider' AND request_id = $1",
            request.request_id,
        )
        assert told == 1, order
        remembered = await store.request_facts(pool, request.request_id)
        assert remembered.provider == PROVIDER and remembered.withdrawn_at is not None
