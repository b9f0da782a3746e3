"""Routing's background loop: requests that waited for a place beyond the policy's maximum go to staff. Rows
are claimed with SKIP LOCKED, so with several replicas each request is moved once."""

import asyncio
import logging

import asyncpg

from services.routing import commands
from services.routing.domain.policy import Policy
from shared.runtime.consumer import TRANSIENT_ERRORS
from shared.runtime.outbox import unit_of_work

log = logging.getLogger(__name__)


async def review_long_waits(pool: asyncpg.Pool, policy: Policy, interval_s: float) -> None:
    """Send overlong waits to staff, in one transaction a sweep, for the life of the service."""
    while True:
        try:
            async with unit_of_work(pool) as uow:
                moved = await commands.review_long_waits(uow, policy)
            if moved:
                log.info(
                    "%d request(s) waited beyond %d days for a place: sent to staff",
                    moved,
                    policy.provider_choice.max_wait_days,
                )
        except TRANSIENT_ERRORS as exc:
            log.warning("long-wait sweep: database unavailable (%r); retrying", exc)
        await asyncio.sleep(interval_s)
