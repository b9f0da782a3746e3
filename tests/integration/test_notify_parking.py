"""Notify's parking of events that overtake their request, on a real PostgreSQL, with two replicas at once."""

import asyncio
import uuid
from pathlib import Path

import pytest

from services.notify import store
from services.notify.handlers import make_handlers
from services.notify.messages import Preferences, RequestFacts
from shared.contract.envelope import Envelope
from shared.db import create_pool, migrate
from shared.outbox import unit_of_work
from tests.unit.test_notify_messages import STAFF, opened, submitted

MIGRATIONS = Path(store.__file__).parent / "migrations"


@pytest.fixture
async def pool(infra):
    schema = f"notify_{uuid.uuid4().hex[:8]}"
    await migrate(infra.database_url, schema, MIGRATIONS)
    pool = await create_pool(infra.database_url, schema, 3)
    yield pool
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


async def test_an_event_parked_by_one_replica_while_another_remembers_its_request_is_not_stranded(pool):
    on_event = make_handlers(STAFF, Preferences(), asyncio.Event())[type(submitted())]
    request = submitted()
    opening = opened(RequestFacts.from_submitted(request))

    async def remember_request() -> None:
        async with unit_of_work(pool) as uow:
            await on_event(uow, Envelope.wrap(request, source="test", correlation_id="c"), request)

    # One replica parks the opening (its request unknown yet) and has not committed when another replica
    # remembers the request and looks for parked events.
    async with unit_of_work(pool) as parking:
        await on_event(parking, Envelope.wrap(opening, source="test", correlation_id="c"), opening)
        remembering = asyncio.create_task(remember_request())
        await asyncio.sleep(0.5)  # room for the other replica to run as far as it can
    await remembering

    assert await pool.fetchval("SELECT count(*) FROM parked_events") == 0
    assert await pool.fetchval("SELECT count(*) FROM deliveries WHERE cause_event_type = 'EngagementOpened'") >= 1
