"""Notify's PostgreSQL edge: request facts, parked events, the delivery records, their claiming for dispatch and
the delivery log. Rows come back typed: `RequestFacts`, `Envelope`, `ClaimedDelivery`, `Delivery`."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import asyncpg
from pydantic import JsonValue

from services.notify.domain.deliveries import Delivery, Status, delivery_id
from services.notify.domain.planning import PlannedNotification
from services.notify.domain.request_facts import Addressee, RequestDescription, RequestFacts
from shared.contract.envelope import Envelope


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery taken for one attempt; `attempts` counts this one."""

    delivery_id: UUID
    correlation_id: str
    attempts: int
    planned: PlannedNotification
    trace_headers: dict[str, str] = field(default_factory=dict)  # the context of the work that planned it


async def remember_requests(conn: asyncpg.Connection, descriptions: Sequence[RequestDescription]) -> None:
    await conn.executemany(
        "INSERT INTO request_facts (request_id, facts) VALUES ($1, $2) ON CONFLICT (request_id) DO NOTHING",
        [(description.request_id, description.model_dump(mode="json")) for description in descriptions],
    )


async def remember_addressees(conn: asyncpg.Connection, addressees: Sequence[tuple[UUID, Addressee]]) -> None:
    await conn.executemany(
        "INSERT INTO request_contacts (request_id, addressee) VALUES ($1, $2) ON CONFLICT (request_id) DO NOTHING",
        [(request_id, addressee.model_dump(mode="json")) for request_id, addressee in addressees],
    )


async def remember_facts(conn: asyncpg.Connection, learnt: Sequence[tuple[UUID, str, JsonValue]]) -> None:
    """Add facts learnt after the request's RequestReceived (its provider, its withdrawal), in order."""
    await conn.executemany(
        "UPDATE request_facts SET facts = jsonb_set(facts, ARRAY[$2::text], $3::jsonb) WHERE request_id = $1", learnt
    )


async def facts_of(conn: asyncpg.Connection, request_ids: Collection[UUID]) -> dict[UUID, RequestFacts]:
    """What notify knows of each request it has both the description and the addressee of."""
    rows = await conn.fetch(
        "SELECT f.request_id, f.facts || c.addressee AS facts FROM request_facts f"
        " JOIN request_contacts c USING (request_id) WHERE f.request_id = ANY($1::uuid[])",
        list(request_ids),
    )
    return {row["request_id"]: RequestFacts.model_validate(row["facts"]) for row in rows}


async def park(conn: asyncpg.Connection, parked: Sequence[tuple[Envelope, UUID]]) -> None:
    """Keep events until their request is on record, in the order given."""
    await conn.executemany(
        "INSERT INTO parked_events (event_id, request_id, envelope) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [(envelope.event_id, request_id, envelope.model_dump(mode="json")) for envelope, request_id in parked],
    )


async def unpark_remembered(
    conn: asyncpg.Connection, request_ids: Collection[UUID] | None = None
) -> list[tuple[Envelope, RequestFacts]]:
    """The parked events whose request is remembered, described and addressed (of those requests only, when
    given), oldest first, each with its request's facts; they are no longer parked."""
    rows = await conn.fetch(
        "DELETE FROM parked_events p USING request_facts f JOIN request_contacts c USING (request_id)"
        " WHERE p.request_id = f.request_id AND ($1::uuid[] IS NULL OR p.request_id = ANY($1::uuid[]))"
        " RETURNING p.envelope, p.parked_at, f.facts || c.addressee AS facts",
        None if request_ids is None else list(request_ids),
    )
    return [
        (Envelope.model_validate(row["envelope"]), RequestFacts.model_validate(row["facts"]))
        for row in sorted(rows, key=lambda row: row["parked_at"])
    ]


@dataclass(frozen=True, slots=True)
class Recorded:
    """A delivery to record: what was planned, for which request's work, in which trace."""

    planned: PlannedNotification
    correlation_id: str
    trace_headers: dict[str, str]


async def record_deliveries(conn: asyncpg.Connection, deliveries: Sequence[Recorded]) -> None:
    """One pending delivery per (event, recipient, channel); a repeat of the same plan adds nothing. Each keeps
    the trace context it was planned in, for the span of its sending."""
    await conn.executemany(
        "INSERT INTO deliveries (delivery_id, cause_event_id, cause_event_type, correlation_id, request_id,"
        " engagement_id, kind, role, channel, address, plan, trace_headers)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT (delivery_id) DO NOTHING",
        [_delivery_row(d.planned, d.correlation_id, d.trace_headers) for d in deliveries],
    )


def _delivery_row(p: PlannedNotification, correlation_id: str, trace: dict[str, str]) -> tuple:
    key = delivery_id(p.cause_event_id, p.recipient, p.channel)
    return (
        key,
        p.cause_event_id,
        p.cause_event_type,
        correlation_id,
        p.request_id,
        p.engagement_id,
        p.kind,
        p.recipient.role,
        p.channel,
        p.address,
        p.model_dump(mode="json"),
        trace,
    )


async def claim_due(conn: asyncpg.Connection, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
    """Take due deliveries for a while (a lease): replicas skip them, and a crashed holder's lease runs out."""
    rows = await conn.fetch(
        "UPDATE deliveries SET next_attempt_at = now() + $2::interval, attempts = attempts + 1"
        " WHERE delivery_id IN (SELECT delivery_id FROM deliveries WHERE status = 'pending'"
        " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING delivery_id, correlation_id, plan, attempts, trace_headers",
        limit,
        lease,
    )
    return [
        ClaimedDelivery(
            row["delivery_id"],
            row["correlation_id"],
            row["attempts"],
            PlannedNotification.model_validate(row["plan"]),
            row["trace_headers"],
        )
        for row in rows
    ]


async def mark_sent(conn: asyncpg.Connection, deliveries: list[UUID]) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'sent', finished_at = now(), last_error = NULL"
        " WHERE delivery_id = ANY($1::uuid[])",
        deliveries,
    )


async def mark_failed(conn: asyncpg.Connection, delivery: UUID, reason: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', finished_at = now(), last_error = $2 WHERE delivery_id = $1",
        delivery,
        reason,
    )


async def retry_later(conn: asyncpg.Connection, delivery: UUID, reason: str, delay_s: float) -> None:
    await conn.execute(
        "UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => $3), last_error = $2"
        " WHERE delivery_id = $1",
        delivery,
        reason,
        delay_s,
    )


_LOG_COLUMNS = (
    "delivery_id, request_id, engagement_id, cause_event_id, cause_event_type, kind, role, channel,"
    " address AS recipient, status, attempts, last_error, created_at,"
    # The next attempt means something only while the delivery waits.
    " CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, finished_at"
)


async def list_deliveries(
    conn: asyncpg.Connection, *, request_id: UUID | None, recipient: str | None, status: Status | None, limit: int
) -> list[Delivery]:
    """The delivery log, newest first; never the plan, whose context may hold confidential text."""
    rows = await conn.fetch(
        f"SELECT {_LOG_COLUMNS} FROM deliveries"
        " WHERE ($1::uuid IS NULL OR request_id = $1) AND ($2::text IS NULL OR lower(address) = lower($2))"
        " AND ($3::text IS NULL OR status = $3) ORDER BY created_at DESC, delivery_id LIMIT $4",
        request_id,
        recipient,
        status,
        limit,
    )
    return [Delivery.model_validate(dict(row)) for row in rows]


async def get_delivery(conn: asyncpg.Connection, delivery: UUID) -> Delivery | None:
    row = await conn.fetchrow(f"SELECT {_LOG_COLUMNS} FROM deliveries WHERE delivery_id = $1", delivery)
    return Delivery.model_validate(dict(row)) if row else None
