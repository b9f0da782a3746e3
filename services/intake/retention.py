"""Idempotency keys are kept for their retention period, then deleted in the background."""

import asyncio
import logging

from services.intake import store
from services.intake.settings import IntakeSettings
from shared.runtime.lifecycle import ServiceRuntime

log = logging.getLogger(__name__)


async def purge_expired_keys_periodically(runtime: ServiceRuntime) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    while True:
        try:
            async with runtime.pool.acquire() as conn:
                purged = await store.purge_expired_keys(conn, settings.idempotency_key_ttl)
            if purged:
                log.info("purged %d expired idempotency keys", purged)
        except Exception as exc:  # noqa: BLE001 - a database outage skips a round; the next one catches up
            log.warning("purging expired idempotency keys failed: %r", exc)
        await asyncio.sleep(settings.idempotency_purge_interval.total_seconds())
