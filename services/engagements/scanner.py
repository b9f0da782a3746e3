"""Fires missed deadlines: due rows are claimed with SKIP LOCKED (safe with several replicas), marked fired,
their engagements flagged overdue, and DeadlineMissed with a fresh snapshot published, in one transaction.
Deadlines live in the database, so one that fell due while no replica ran fires at the next start."""

import asyncio
import logging

import asyncpg

from services.engagements import commands, store
from shared.contract.events import DeadlineMissed, ProviderRef
from shared.runtime.consumer import TRANSIENT_ERRORS
from shared.runtime.outbox import unit_of_work

log = logging.getLogger(__name__)


async def fire_missed_deadlines(pool: asyncpg.Pool, batch: int) -> int:
    async with unit_of_work(pool) as uow:
        missed = await store.claim_missed_deadlines(uow.conn, batch)
        if not missed:
            return 0
        engagements = await store.mark_overdue(uow.conn, list({m["engagement_id"] for m in missed}))
        by_id = {row["engagement_id"]: row for row in engagements}
        for deadline in missed:
            row = by_id[deadline["engagement_id"]]
            event = DeadlineMissed(
                engagement_id=row["engagement_id"],
                request_id=row["request_id"],
                tier=row["tier"],
                provider=ProviderRef.model_validate(row["provider"]),
                milestone=deadline["milestone"],
                due_at=deadline["due_at"],
                detected_at=deadline["fired_at"],
            )
            commands.publish(uow, row, [event])
    log.info("%d deadline(s) missed", len(missed))
    return len(missed)


async def scan_forever(pool: asyncpg.Pool, batch: int, interval_s: float) -> None:
    while True:
        try:
            if await fire_missed_deadlines(pool, batch) == batch:
                continue  # more may be due: no pause
        except TRANSIENT_ERRORS as exc:
            log.warning("deadline scan: database unavailable (%r); retrying", exc)
        await asyncio.sleep(interval_s)
