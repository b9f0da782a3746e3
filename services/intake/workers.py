"""Intake's background loops for the life of the service: idempotency keys past their retention and requests of
the public form whose link expired are deleted, and so are ended sessions, spent links and rate-limit grants older
than the window."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from services.intake.settings import IntakeSettings
from services.intake.store import PostgresSignIn, PostgresStore
from shared.runtime.lifecycle import ServiceRuntime

log = logging.getLogger(__name__)


async def purge_expired_keys_periodically(runtime: ServiceRuntime) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]

    async def purge(conn: asyncpg.Connection) -> int:
        store = PostgresStore(conn)
        return await store.purge_expired_keys(settings.idempotency_key_ttl) + await store.purge_expired_pending()

    await _purging(runtime, "expired idempotency keys and form requests", purge, settings.idempotency_purge_interval)


async def purge_ended_sign_in_periodically(runtime: ServiceRuntime) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]

    async def purge(conn: asyncpg.Connection) -> int:
        return await PostgresSignIn(conn).purge_signin(datetime.now(UTC), settings.signin_limit_window)

    await _purging(runtime, "ended sessions, spent links and old sign-in grants", purge, settings.signin_purge_interval)


async def _purging(
    runtime: ServiceRuntime, what: str, purge: Callable[[asyncpg.Connection], Awaitable[int]], every: timedelta
) -> None:
    while True:
        try:
            async with runtime.pool.acquire() as conn:
                purged = await purge(conn)
            if purged:
                log.info("purged %d %s", purged, what)
        except Exception as exc:  # noqa: BLE001 - a database outage skips a round; the next one catches up
            log.warning("purging %s failed: %r", what, exc)
        await asyncio.sleep(every.total_seconds())
