"""A routed request opens its engagement on a real PostgreSQL in one statement: the request leaves the dashboard's
queue, the engagement opens with its audit entry and first deadline, and a second routing of the same request (a
redelivery under a new id, a reassignment) opens nothing and publishes nothing."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.engagements.domain.deadlines import DeadlineClock, load_deadlines
from services.engagements.handlers import make_handlers
from services.engagements.settings import DEFAULT_DEADLINES
from services.engagements.store import PostgresStore
from shared.contract.envelope import Envelope
from shared.contract.events import RequestQueued, RequestReceived
from shared.contract.requests import RequestForAssistance
from shared.runtime.outbox import unit_of_work
from tests.support import sample_request, watch_statements
from tests.unit.test_engagements_commands import routed

MIGRATIONS = Path(__file__).parents[2] / "services" / "engagements" / "migrations"
HANDLERS = make_handlers(DeadlineClock(load_deadlines(DEFAULT_DEADLINES), 86_400))


async def apply(pool, envelope: Envelope) -> None:
    event = next(model for model in HANDLERS if model.event_type == envelope.type).model_validate(envelope.data)
    async with unit_of_work(pool) as uow:
        await HANDLERS[type(event)](uow, envelope, event)


@pytest.fixture
async def waiting(schema_pool):
    """A pool on a fresh engagements schema, and a request it keeps that waits for a place."""
    pool = await schema_pool(MIGRATIONS)
    envelope = routed()
    request_id = envelope.data["request_id"]
    received = RequestReceived(
        request_id=request_id,
        submitted_at=datetime.now(UTC),
        channel="http",
        request=RequestForAssistance.model_validate(sample_request()).without_contact(),
    )
    queued = RequestQueued(request_id=request_id, tier="cri_tac", reason="no room", queued_at=datetime.now(UTC))
    for event in (received, queued):
        await apply(pool, Envelope.wrap(event, source="test", correlation_id="c"))
    return pool, envelope


async def test_a_routed_request_opens_its_engagement_in_one_statement(waiting):
    pool, envelope = waiting
    sent = await watch_statements(pool)

    await apply(pool, envelope)

    # BEGIN, the opening (queue, engagement, audit entry, deadline), the outbox, COMMIT; it was 6 for the opening.
    assert len(sent) == 4, sent
    engagement = await pool.fetchrow("SELECT engagement_id, status FROM engagements")
    assert engagement["status"] == "accepted"
    trail = await pool.fetch("SELECT actor, action FROM audit_trail WHERE engagement_id = $1", engagement[0])
    assert [tuple(entry) for entry in trail] == [("routing", "opened")]
    async with pool.acquire() as conn:
        assert (await PostgresStore(conn).pending_deadline(engagement[0])).milestone == "scoping"
    assert await pool.fetchval("SELECT queue FROM requests") is None
    published = await pool.fetch("SELECT headers->>'event-type' FROM outbox ORDER BY id")
    assert [row[0] for row in published][-2:] == ["EngagementOpened", "EngagementSnapshot"]


async def test_a_second_routing_of_the_request_opens_nothing_and_publishes_nothing(waiting):
    pool, envelope = waiting
    await apply(pool, envelope)
    published = await pool.fetchval("SELECT count(*) FROM outbox")

    await apply(pool, routed(request_id=envelope.data["request_id"]))

    assert await pool.fetchval("SELECT count(*) FROM engagements") == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_trail") == 1
    assert await pool.fetchval("SELECT count(*) FROM deadlines") == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == published
