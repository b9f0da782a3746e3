"""Engagements' background loop: the deadline scan. Deadlines live in the database, so one that fell due while
no replica ran fires at the next start; due rows are claimed with SKIP LOCKED, so with several replicas each
fires once."""

import asyncio
import logging

import asyncpg

from services.engagements import commands
from services.engagements.store import PostgresStore
from shared.runtime.consumer import TRANSIENT_ERRORS
from shared.runtime.outbox import unit_of_work

log = logging.getLogger(__name__)


async def scan_deadlines(pool: asyncpg.Pool, batch: int, interval_s: float) -> None:
    """Fire missed deadlines, each batch in one transaction, for the life of the service."""
    while True:
        try:
            async with unit_of_work(pool) as uow:
                fired = await commands.fire_missed_deadlines(PostgresStore(uow.conn), uow, batch)
            if fired:
                log.info("%d deadline(s) missed", fired)
            if fired == batch:
                continue  # more may be due: no pause
        except TRANSIENT_ERRORS as exc:
            log.warning("deadline scan: database unavailable (%r); retrying", exc)
        await asyncio.sleep(interval_s)
