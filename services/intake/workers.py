"""Intake's background loops for the life of the service: idempotency keys past their retention are deleted."""

import asyncio
import logging

from services.intake.settings import IntakeSettings
from services.intake.store import PostgresStore
from shared.runtime.lifecycle import ServiceRuntime

log = logging.getLogger(__name__)


async def purge_expired_keys_periodically(runtime: ServiceRuntime) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    while True:
        try:
            async with runtime.pool.acquire() as conn:
                purged = await PostgresStore(conn).purge_expired_keys(settings.idempotency_key_ttl)
            if purged:
                log.info("purged %d expired idempotency keys", purged)
        except Exception as exc:  # noqa: BLE001 - a database outage skips a round; the next one catches up
            log.warning("purging expired idempotency keys failed: %r", exc)
        await asyncio.sleep(settings.idempotency_purge_interval.total_seconds())
