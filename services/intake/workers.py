"""Intake's background loops for the life of the service: idempotency keys past their retention and requests of
the public form whose link expired are deleted, and so are ended sessions, spent links and rate-limit grants older
than the window."""

import asyncio
import logging
from datetime import UTC, datetime

from services.intake.settings import IntakeSettings
from services.intake.store import PostgresSignIn, PostgresStore
from shared.runtime.lifecycle import ServiceRuntime

log = logging.getLogger(__name__)


async def purge_expired_keys_periodically(runtime: ServiceRuntime) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    while True:
        try:
            async with runtime.pool.acquire() as conn:
                store = PostgresStore(conn)
                purged = await store.purge_expired_keys(settings.idempotency_key_ttl)
                unconfirmed = await store.purge_expired_pending()
            if purged or unconfirmed:
                log.info("purged %d expired idempotency keys, %d expired form requests", purged, unconfirmed)
        except Exception as exc:  # noqa: BLE001 - a database outage skips a round; the next one catches up
            log.warning("purging expired idempotency keys failed: %r", exc)
        await asyncio.sleep(settings.idempotency_purge_interval.total_seconds())


async def purge_ended_sign_in_periodically(runtime: ServiceRuntime) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    while True:
        try:
            async with runtime.pool.acquire() as conn:
                purged = await PostgresSignIn(conn).purge_signin(datetime.now(UTC), settings.signin_limit_window)
            if purged:
                log.info("purged %d ended sessions, spent links and old sign-in grants", purged)
        except Exception as exc:  # noqa: BLE001 - a database outage skips a round; the next one catches up
            log.warning("purging ended sessions and links failed: %r", exc)
        await asyncio.sleep(settings.signin_purge_interval.total_seconds())
