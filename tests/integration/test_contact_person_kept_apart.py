"""The contact person is kept only by those who address the agency, on a real PostgreSQL: a RequestSubmitted
published before RequestReceived replaced it is applied as its two parts, and the migrations take the contact out
of what each service kept from it (a schema migrated as the services were, holding a request as the old code
stored it, then migrated to today's)."""

import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from services.engagements.domain.deadlines import DeadlineClock, load_deadlines
from services.engagements.handlers import make_handlers as make_engagement_handlers
from services.engagements.settings import DEFAULT_DEADLINES
from services.engagements.store import PostgresStore
from services.notify import store as notify_store
from services.routing import store as routing_store
from services.routing.domain.policy import load_policy
from services.routing.handlers import make_handlers as make_routing_handlers
from services.routing.settings import POLICY_FILE
from shared.contract.envelope import Envelope
from shared.contract.events import RequestSubmitted
from shared.contract.requests import RequestForAssistance
from shared.runtime.db import create_pool, migrate
from shared.runtime.outbox import unit_of_work
from tests.support import sample_request
from tests.unit.test_notify_planning import CONTACT, facts_of, received

SERVICES = Path(__file__).parents[2] / "services"
REQUEST = RequestForAssistance.model_validate(sample_request())

Upgrade = Callable[[str, str], Awaitable[tuple[asyncpg.Pool, Callable[[], Awaitable[None]]]]]


@pytest.fixture
async def before_and_after(infra, tmp_path) -> AsyncIterator[Upgrade]:
    """Migrates a fresh schema of `service` up to (not including) the migration `new`; answers a function that
    applies `new` to it and gives a pool on the schema."""
    made: list[tuple[str, asyncpg.Pool]] = []

    async def at(service: str, new: str) -> tuple[asyncpg.Pool, Callable[[], Awaitable[None]]]:
        schema, folder = f"mig_{uuid.uuid4().hex[:10]}", tmp_path / service
        folder.mkdir()
        source = SERVICES / service / "migrations"
        for migration in sorted(source.glob("*.sql")):
            if migration.name < new:
                shutil.copy(migration, folder)
        await migrate(infra.database_url, schema, folder)
        pool = await create_pool(infra.database_url, schema, 2)
        made.append((schema, pool))

        async def upgrade() -> None:
            shutil.copy(source / new, folder)
            assert await migrate(infra.database_url, schema, folder) == [f"{schema}/{new.removesuffix('.sql')}"]

        return pool, upgrade

    yield at
    for schema, pool in made:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()


async def test_routing_drops_the_contact_person_of_the_requests_it_kept(before_and_after):
    pool, upgrade = await before_and_after("routing", "0005_no_contact.sql")
    request_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO requests (request_id, submitted_at, correlation_id, request, priority, outcome, updated_at,"
        " agency_key) VALUES ($1, now(), 'c', $2, 1, 'needs_review', now(), 'name:IL:x')",
        request_id,
        REQUEST.model_dump(mode="json"),
    )
    await upgrade()
    kept = await pool.fetchval("SELECT request::text FROM requests WHERE request_id = $1", request_id)
    assert REQUEST.contact.email not in kept and REQUEST.contact.phone not in kept
    found = await routing_store.submitted_request(pool, request_id)
    assert found.request == REQUEST.without_contact()


async def test_engagements_moves_the_contact_person_beside_the_request(before_and_after):
    pool, upgrade = await before_and_after("engagements", "0005_request_contacts.sql")
    request_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO requests (request_id, submitted_at, request) VALUES ($1, now(), $2)",
        request_id,
        REQUEST.model_dump(mode="json"),
    )
    await upgrade()
    async with pool.acquire() as conn:
        asked = await PostgresStore(conn).request_of(request_id)
    assert (asked.request, asked.contact) == (REQUEST.without_contact(), REQUEST.contact)
    assert "contact" not in json.loads(await pool.fetchval("SELECT request::text FROM requests"))


async def test_notify_moves_the_addressee_out_of_the_request_facts(before_and_after):
    pool, upgrade = await before_and_after("notify", "0004_request_contacts.sql")
    request = received()
    facts = facts_of(request)
    await pool.execute(
        "INSERT INTO request_facts (request_id, facts) VALUES ($1, $2)",
        request.request_id,
        facts.model_dump(mode="json"),
    )
    await upgrade()
    assert (await notify_store.facts_of(pool, [request.request_id]))[request.request_id] == facts
    description = json.loads(await pool.fetchval("SELECT facts::text FROM request_facts"))
    assert CONTACT.email not in json.dumps(description)


def legacy(request: RequestForAssistance) -> RequestSubmitted:
    return RequestSubmitted(request_id=uuid.uuid4(), submitted_at=datetime.now(UTC), channel="http", request=request)


async def test_routing_decides_a_request_submitted_before_the_split_and_keeps_no_contact(routing_pool):
    event = legacy(REQUEST)
    async with unit_of_work(routing_pool) as uow:
        handle = make_routing_handlers(load_policy(POLICY_FILE))[RequestSubmitted]
        await handle(uow, Envelope.wrap(event, source="intake", correlation_id="c"), event)
    found = await routing_store.submitted_request(routing_pool, event.request_id)
    assert found.outcome != "pending" and found.request == REQUEST.without_contact()
    kept = await routing_pool.fetchval("SELECT request::text FROM requests WHERE request_id = $1", event.request_id)
    assert REQUEST.contact.email not in kept


async def test_engagements_keeps_a_request_submitted_before_the_split_with_its_contact(schema_pool):
    pool = await schema_pool(SERVICES / "engagements" / "migrations")
    event = legacy(REQUEST)
    handle = make_engagement_handlers(DeadlineClock(load_deadlines(DEFAULT_DEADLINES), 86_400))[RequestSubmitted]
    for _redelivery in range(2):
        async with unit_of_work(pool) as uow:
            await handle(uow, Envelope.wrap(event, source="intake", correlation_id="c"), event)
    async with pool.acquire() as conn:
        asked = await PostgresStore(conn).request_of(event.request_id)
    assert (asked.request, asked.contact) == (REQUEST.without_contact(), REQUEST.contact)
