"""Fixtures of the integration tests that need more than tests/conftest.py's servers."""

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from services.routing import store
from services.routing.domain.providers import load_providers
from services.routing.settings import PROVIDERS_FILE
from shared.runtime.db import create_pool, migrate

ROUTING_MIGRATIONS = Path(__file__).parents[2] / "services" / "routing" / "migrations"


@pytest.fixture(scope="module")
async def routing_pool(infra) -> AsyncIterator[asyncpg.Pool]:
    """A routing schema of the module's own, migrated, with the shipped registry; no relay publishes its outbox,
    so the outbox shows exactly what each decision would publish."""
    schema = f"routing_it_{uuid4().hex[:8]}"
    await migrate(infra.database_url, schema, ROUTING_MIGRATIONS)
    pool = await create_pool(infra.database_url, schema, 4)
    async with pool.acquire() as conn:
        await store.seed_providers(conn, load_providers(PROVIDERS_FILE))
    yield pool
    async with pool.acquire() as conn:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()
