"""Notify's recording through its real consumer (inbox, batch scope), on a real PostgreSQL: the parking of events
that overtake their request, the two parts of a request in either order, a batch's requests in one go, and two
replicas at once."""

import asyncio
from pathlib import Path

import pytest
from aiokafka.structs import ConsumerRecord

from services.notify import SERVICE, store, workers
from services.notify.commands import Notifications
from services.notify.domain.preferences import Preferences
from services.notify.handlers import handlers
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import EVENT_MODELS, EngagementOpened, RequestSubmitted
from shared.contract.requests import RequestForAssistance
from shared.runtime.consumer import EventConsumer
from shared.runtime.outbox import unit_of_work
from tests.support import eventually
from tests.unit.test_notify_planning import (
    CONTACT,
    PROVIDER,
    STAFF,
    contact_given,
    facts_of,
    opened,
    received,
    routed,
)
from tests.unit.test_notify_withdrawals import withdrawn

MIGRATIONS = Path(store.__file__).parent / "migrations"


@pytest.fixture
async def pool(schema_pool):
    return await schema_pool(MIGRATIONS)


@pytest.fixture
def notifications() -> Notifications:
    return Notifications(STAFF, Preferences(), asyncio.Event())


def envelope(event: EventData) -> Envelope:
    return Envelope.wrap(event, source="test", correlation_id="c")


async def consume(pool, notifications: Notifications, *envelopes: Envelope) -> None:
    """One batch of records through notify's consumer, as the subscriber hands it over."""
    consumer = EventConsumer(SERVICE, pool, handlers(notifications), notifications.batch)
    records = [
        ConsumerRecord(EVENT_MODELS[e.type].topic, 0, offset, 0, 0, b"k", e.model_dump_json().encode(), None, 1, 1, [])
        for offset, e in enumerate(envelopes)
    ]
    await consumer.apply_batch(records)


async def told(pool, request_id) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT kind, address FROM deliveries WHERE request_id = $1 ORDER BY kind", request_id)
    return [(row["kind"], row["address"]) for row in rows]


async def test_an_event_parked_by_one_replica_while_another_remembers_its_request_is_planned_by_the_sweep(
    pool, notifications
):
    request = received()
    opening = opened(facts_of(request))

    # One replica parks the opening (its request unknown yet) and has not committed when another replica
    # remembers the request and finds nothing parked: the opening is left parked.
    async with unit_of_work(pool) as parking:
        async with notifications.batch(parking, [opening]):
            await handlers(notifications)[EngagementOpened](parking, envelope(opening), opening)
        await consume(pool, notifications, envelope(request), envelope(contact_given(request)))
    assert await pool.fetchval("SELECT count(*) FROM parked_events") == 1

    sweeping = asyncio.create_task(workers.sweep_parked(pool, notifications, every_s=0.05))
    try:

        async def unparked() -> bool:
            return await pool.fetchval("SELECT count(*) FROM parked_events") == 0

        await eventually(unparked, what="the sweep to plan the parked opening")
    finally:
        sweeping.cancel()
    assert await pool.fetchval("SELECT count(*) FROM deliveries WHERE cause_event_type = 'EngagementOpened'") >= 1


@pytest.mark.parametrize("batches", ["one event a batch", "all in one batch"])
async def test_a_withdrawal_racing_routing_reaches_the_provider_in_either_order(pool, notifications, batches):
    """The provider a request was routed to and its withdrawal are remembered with the request's facts, so the
    provider hears of the withdrawal whichever event comes first, within a batch or across batches."""
    for order in ("routed first", "withdrawn first"):
        request = received()
        facts = facts_of(request)
        race = [routed(facts), withdrawn(facts)]
        events = [request, contact_given(request), *(race if order == "routed first" else reversed(race))]
        if batches == "all in one batch":
            await consume(pool, notifications, *map(envelope, events))
        else:
            for event in events:
                await consume(pool, notifications, envelope(event))
        told_provider = await pool.fetchval(
            "SELECT count(*) FROM deliveries WHERE kind = 'request_withdrawn_provider' AND request_id = $1",
            request.request_id,
        )
        assert told_provider == 1, order
        remembered = (await store.facts_of(pool, [request.request_id]))[request.request_id]
        assert remembered.provider == PROVIDER and remembered.withdrawn_at is not None


@pytest.mark.parametrize("order", ["request first", "contact person first"])
async def test_a_request_is_acknowledged_once_both_it_and_its_contact_person_have_come(pool, notifications, order):
    """RequestReceived and RequestContactGiven travel on two topics: whichever comes first waits for the other."""
    request = received()
    first, second = (request, contact_given(request))[:: 1 if order == "request first" else -1]
    await consume(pool, notifications, envelope(first))
    assert await told(pool, request.request_id) == []
    await consume(pool, notifications, envelope(second))
    assert await told(pool, request.request_id) == [("request_received", CONTACT.email)]
    assert await pool.fetchval("SELECT count(*) FROM parked_events WHERE request_id = $1", request.request_id) == 0


async def test_a_batch_of_requests_with_their_contacts_and_openings_is_told_without_parking(pool, notifications):
    requests = [received() for _ in range(5)]
    events = [e for r in requests for e in (opened(facts_of(r)), r)] + [contact_given(r) for r in requests]
    await consume(pool, notifications, *map(envelope, events))
    for request in requests:
        kinds = [kind for kind, _ in await told(pool, request.request_id)]
        assert kinds == ["engagement_opened_agency", "request_received"]
    assert await pool.fetchval("SELECT count(*) FROM parked_events") == 0


async def test_notify_keeps_no_phone_number(pool, notifications):
    request = received()
    await consume(pool, notifications, envelope(request), envelope(contact_given(request)))
    kept = await pool.fetchval("SELECT addressee::text FROM request_contacts WHERE request_id = $1", request.request_id)
    assert CONTACT.email in kept and CONTACT.phone not in kept


async def test_a_request_submitted_before_the_split_is_acknowledged_as_its_two_parts(pool, notifications):
    request = received()
    legacy = RequestSubmitted(
        request_id=request.request_id,
        submitted_at=request.submitted_at,
        channel=request.channel,
        request=RequestForAssistance(**dict(request.request), contact=CONTACT),
    )
    once = envelope(legacy)
    for _redelivery in range(2):
        await consume(pool, notifications, once)
    assert await told(pool, request.request_id) == [("request_received", CONTACT.email)]
    assert (await store.facts_of(pool, [request.request_id]))[request.request_id] == facts_of(request)
