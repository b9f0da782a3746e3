"""Notify's background loops, for the life of the service: the dispatcher, which sends recorded deliveries outside
the consumer's poll loop (so a slow or absent SMTP server never blocks a partition), and the sweep of parked
events whose request another replica remembered."""

import asyncio
import logging
import random
import time
from contextlib import suppress
from datetime import timedelta

import asyncpg

from services.notify import commands, store
from services.notify.commands import Notifications, Sender
from services.notify.domain.retries import RetryPolicy
from services.notify.settings import NotifySettings
from shared.runtime.consumer import TRANSIENT_ERRORS
from shared.runtime.outbox import unit_of_work

log = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.2


class Dispatcher:
    """Claims due deliveries a batch at a time, sends them all at once, and settles the batch (sent, retried
    later with backoff, or failed)."""

    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings, sender: Sender, recorded: asyncio.Event) -> None:
        """`recorded` is set when this process records deliveries, so they go out at once rather than at the
        next poll (which still finds those of other replicas and retries come due)."""
        self._pool = pool
        self._settings = settings
        self._sender = sender
        self._recorded = recorded
        self._retries = RetryPolicy(settings.max_attempts, settings.retry_base_s, settings.retry_cap_s)
        self._rng = random.Random()

    async def run(self) -> None:
        while True:
            try:
                self._recorded.clear()
                if not await self.dispatch_due():
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._recorded.wait(), POLL_INTERVAL_S)
            except TRANSIENT_ERRORS as exc:
                log.warning("notify dispatcher: database unavailable (%r); retrying", exc)
                await asyncio.sleep(1.0)

    async def dispatch_due(self) -> int:
        async with self._pool.acquire() as conn:
            claimed = await store.claim_due(
                conn, self._settings.dispatch_batch, timedelta(seconds=self._settings.dispatch_lease_s)
            )
        if not claimed:
            return 0
        attempts = await asyncio.gather(*(commands.attempt(self._sender, delivery) for delivery in claimed))
        # The messages may be out: keep trying to record that while the lease holds, or they would be sent again.
        deadline = time.monotonic() + self._settings.dispatch_lease_s / 2
        while True:
            try:
                async with unit_of_work(self._pool) as uow:
                    await commands.settle(uow, attempts, self._retries, self._rng)
                return len(claimed)
            except TRANSIENT_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("notify: outcomes of %d deliveries not recorded yet (%r); trying again", len(claimed), exc)
                await asyncio.sleep(1.0)


async def sweep_parked(pool: asyncpg.Pool, notifications: Notifications, every_s: float) -> None:
    """Plan the parked events of every remembered request, every `every_s`, for the life of the service."""
    while True:
        await asyncio.sleep(every_s)
        try:
            async with unit_of_work(pool) as uow:
                if found := await notifications.plan_parked(uow):
                    log.info("planned %d parked events whose request another replica remembered", found)
        except TRANSIENT_ERRORS as exc:
            log.warning("notify: parked events not swept (%r); trying again", exc)
