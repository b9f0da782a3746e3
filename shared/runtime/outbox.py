"""Transactional outbox: events are rows written in the same transaction as the state change that caused
them; a relay publishes them in order and marks them published. Nothing is lost while the broker is down."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Protocol

import asyncpg

from shared.contract.envelope import Envelope
from shared.contract.events import EVENT_MODELS
from shared.runtime import metrics
from shared.runtime.backoff import Backoff
from shared.runtime.db import connect
from shared.runtime.tracing import publishing, trace_headers

log = logging.getLogger(__name__)

# Set when a unit of work of this process commits events, so its relay publishes them at once. Not a PostgreSQL
# NOTIFY: that takes a database-wide lock until commit and would serialize every writing transaction.
_outbox_written = asyncio.Event()

# Published rows stay a day (to look into what went out), then go: the outbox must not grow for ever.
_PUBLISHED_KEPT = timedelta(days=1)
_PURGE_EVERY_S = 600.0


class UnitOfWork:
    """One PostgreSQL transaction: the state changes of a command or a batch of events, and the events they
    publish. Events are buffered and written in one statement when the work commits."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._pending: list[tuple[Envelope, dict[str, str]]] = []
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the transaction has committed (not at all if it rolls back)."""
        self._after_commit.append(callback)

    def publish(self, envelope: Envelope) -> None:
        # Headers are taken now, while the span that caused the event is current.
        self._pending.append((envelope, {**headers_of(envelope), **trace_headers()}))

    async def flush(self) -> None:
        """Write the buffered events; once they are committed, this process's relay is woken to publish them."""
        if not self._pending:
            return
        # ON CONFLICT: an event with a deterministic id (a dead letter) is only ever recorded once.
        await self.conn.executemany(
            "INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (event_id) DO NOTHING",
            [(e.event_id, _topic_of(e), e.key, e.model_dump_json().encode(), h) for e, h in self._pending],
        )
        self._pending.clear()
        self.after_commit(_outbox_written.set)

    def committed(self) -> None:
        """The transaction has committed: run what waited for it."""
        for callback in self._after_commit:
            callback()


def _topic_of(envelope: Envelope) -> str:
    return EVENT_MODELS[envelope.type].topic


def headers_of(envelope: Envelope) -> dict[str, str]:
    """Kafka headers that let a consumer route or trace a message without parsing its body."""
    return {
        "content-type": "application/json",
        "event-type": envelope.type,
        "event-version": str(envelope.version),
        "correlation-id": envelope.correlation_id,
    }


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool) -> AsyncIterator[UnitOfWork]:
    async with pool.acquire() as conn:
        async with conn.transaction():
            uow = UnitOfWork(conn)
            yield uow
            await uow.flush()
        uow.committed()


class Publisher(Protocol):
    async def publish_many(self, messages: Sequence[tuple[str, str, bytes, dict[str, str]]]) -> None:
        """Publish (topic, key, payload, headers) messages and return once the broker has acknowledged all."""


class OutboxRelay:
    """Publishes a schema's outbox rows in id order. One relay per schema is active at a time (a PostgreSQL
    advisory lock elects it), so several replicas never interleave and per-key order holds."""

    def __init__(
        self,
        database_url: str,
        schema: str,
        publisher: Publisher,
        *,
        batch_size: int,
        poll_interval_s: float,
    ) -> None:
        self._database_url = database_url
        self._schema = schema
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s

    async def run(self) -> None:
        """Relay until cancelled, reconnecting after database or broker failures."""
        backoff = Backoff(first_s=0.2)
        while True:
            try:
                await self._lead_and_relay()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: back off, reconnect, go on relaying
                delay = backoff.failed()
                log.warning("outbox relay for %s: %s; retrying in %.1fs", self._schema, exc, delay)
                await asyncio.sleep(delay)
            else:
                backoff.succeeded()

    async def _lead_and_relay(self) -> None:
        conn = await connect(self._database_url, self._schema)
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"outbox:{self._schema}"):
                await asyncio.sleep(self._poll_interval_s)
            log.info("outbox relay for %s is active", self._schema)
            next_purge = 0.0
            published: list[int] = []
            while True:
                _outbox_written.clear()
                if time.monotonic() >= next_purge:
                    await purge_published(conn, _PUBLISHED_KEPT)
                    next_purge = time.monotonic() + _PURGE_EVERY_S
                published = await self._relay_batch(conn, published)
                if not published:
                    # Woken at once by this process's writes; another replica's are found by the next poll.
                    with suppress(TimeoutError):
                        await asyncio.wait_for(_outbox_written.wait(), self._poll_interval_s)
        finally:
            with suppress(Exception):
                await asyncio.shield(conn.close())

    async def _relay_batch(self, conn: asyncpg.Connection, published: list[int]) -> list[int]:
        """Mark the rows of the batch just published, read the next batch in the same statement (one round trip
        a batch fewer) and publish it; answers the ids published."""
        # The SELECT sees the table as before the UPDATE, hence the rows just marked are left out by id.
        rows = await conn.fetch(
            "WITH marked AS (UPDATE outbox SET published_at = now() WHERE id = ANY($2::bigint[]))"
            " SELECT id, topic, key, payload, headers FROM outbox WHERE published_at IS NULL"
            " AND id <> ALL($2::bigint[]) ORDER BY id LIMIT $1",
            self._batch_size,
            published,
        )
        if not rows:
            return []
        # Each message is sent naming its publish span, which continues the trace of the work that wrote it.
        with publishing([(r["topic"], r["headers"]) for r in rows]) as headers:
            await self._publisher.publish_many(
                [(r["topic"], r["key"], r["payload"], h) for r, h in zip(rows, headers, strict=True)]
            )
        # A crash before the next statement marks them republishes the batch; consumers dedupe on event_id.
        metrics.EVENTS_OUT.labels(self._schema).inc(len(rows))
        return [r["id"] for r in rows]


async def purge_published(conn: asyncpg.Connection, kept: timedelta) -> int:
    """Forget events published longer ago than `kept` (the broker has them); returns how many."""
    done = await conn.execute(
        "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - $1::interval", kept
    )
    return int(done.split()[-1])


async def backlog(conn: asyncpg.Connection) -> tuple[int, float]:
    """Number of unpublished events and the age in seconds of the oldest one."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
        " FROM outbox WHERE published_at IS NULL"
    )
    return row["n"], float(row["age"])
