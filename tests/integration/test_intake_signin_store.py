"""People's sign-in on a real PostgreSQL: a link opens one session however many clicks race, the limits hold
when asks race (one lock per key), and what has ended is purged."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from services.intake import commands, store
from services.intake.domain.signin import Limit, SignInLimits
from shared.contract.requests import RequestForAssistance
from shared.runtime.outbox import unit_of_work
from shared.runtime.web.tokens import new_token, token_digest
from tests.support import sample_request, unique

MIGRATIONS = Path(store.__file__).parent / "migrations"
STAFF = {"staff@cri-exchange.example": "Program staff"}


@pytest.fixture
async def pool(schema_pool):
    return await schema_pool(MIGRATIONS)


async def agency_contact(pool) -> str:
    email = f"{unique('contact')}@agency.example.gov"
    async with unit_of_work(pool) as uow:
        await commands.submit_request(
            store.PostgresStore(uow.conn),
            uow,
            RequestForAssistance.model_validate(sample_request(contact__email=email)),
            "http",
            idempotency_key=None,
            key_ttl=timedelta(hours=24),
        )
    return email


async def link_for(pool, email: str, now: datetime) -> str:
    token = new_token()
    async with pool.acquire() as conn:
        await store.PostgresSignIn(conn).record_link(
            token_digest(token), uuid4(), email, "/account", now, now + timedelta(minutes=15)
        )
    return token


async def open_with(pool, token: str, now: datetime) -> commands.OpenedSession | None:
    async with unit_of_work(pool) as uow:
        return await commands.open_session(
            store.PostgresSignIn(uow.conn), token, None, staff=STAFF, session_ttl=timedelta(hours=12), now=now
        )


async def test_racing_clicks_on_one_link_open_one_session(pool):
    now = datetime.now(UTC)
    email = await agency_contact(pool)
    token = await link_for(pool, email, now)
    opened = await asyncio.gather(*(open_with(pool, token, now) for _ in range(5)))
    assert len([session for session in opened if session is not None]) == 1
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 1


async def test_racing_asks_never_pass_the_limit(pool):
    limits = SignInLimits(per_address=Limit(3, timedelta(minutes=15)), per_client=Limit(100, timedelta(minutes=15)))
    now = datetime.now(UTC)

    async def ask(client: str):
        async with unit_of_work(pool) as uow:
            return await commands.ask_for_sign_in(
                store.PostgresSignIn(uow.conn), "someone@agency.example.gov", client, now, limits
            )

    decisions = await asyncio.gather(*(ask(f"198.51.100.{n}") for n in range(10)))
    assert [d.allowed for d in decisions].count(True) == 3


async def test_what_has_ended_is_purged_and_what_lives_is_kept(pool):
    now = datetime.now(UTC)
    email = await agency_contact(pool)
    live = await open_with(pool, await link_for(pool, email, now), now)
    ended = await open_with(pool, await link_for(pool, email, now - timedelta(hours=13)), now - timedelta(hours=13))
    await link_for(pool, email, now - timedelta(hours=1))  # expired unused
    unused = await link_for(pool, email, now)
    async with pool.acquire() as conn:
        people = store.PostgresSignIn(conn)
        await people.record_grants([("address", "a"), ("client", "c")], now - timedelta(hours=1))
        await people.record_grants([("address", "a")], now)
        assert await people.purge_signin(now, timedelta(minutes=15)) == 1 + 2 + 2  # session, links, grants ended
        assert (await commands.session_of(people, live.token, now)).person.email == email
        assert await commands.session_of(people, ended.token, now) is None
        assert await commands.usable_link(people, unused, now) is not None
    assert await pool.fetchval("SELECT count(*) FROM signin_grants") == 1
