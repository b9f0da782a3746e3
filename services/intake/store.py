"""Intake's PostgreSQL edge: the requests table, its timeline and the idempotency keys."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4

import asyncpg

from services.intake import SERVICE
from services.intake.domain.status import StatusChange
from services.intake.domain.submissions import agency_key, fingerprint
from shared.contract.envelope import Envelope
from shared.contract.events import RequestSubmitted
from shared.contract.requests import RequestForAssistance
from shared.runtime.outbox import UnitOfWork


@dataclass(frozen=True, slots=True)
class Acceptance:
    request_id: UUID
    replayed: bool


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different body."""


async def accept(
    uow: UnitOfWork,
    request: RequestForAssistance,
    channel: Literal["http", "kafka"],
    *,
    idempotency_key: str | None = None,
    key_ttl: timedelta = timedelta(hours=24),
    correlation_id: str | None = None,
) -> Acceptance:
    """Record a request and its RequestSubmitted event in the caller's transaction, or recognise a replay."""
    conn = uow.conn
    request_id = uuid4()
    if idempotency_key is not None:
        # A key seen within its retention is a replay; an expired one is taken over, as if new.
        claimed = await conn.fetchval(
            "INSERT INTO idempotency_keys (key, body_sha256, request_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (key) DO UPDATE SET body_sha256 = EXCLUDED.body_sha256,"
            " request_id = EXCLUDED.request_id, created_at = now()"
            " WHERE idempotency_keys.created_at < now() - $4::interval RETURNING request_id",
            idempotency_key,
            fingerprint(request),
            request_id,
            key_ttl,
        )
        if claimed is None:
            first = await conn.fetchrow(
                "SELECT body_sha256, request_id FROM idempotency_keys WHERE key = $1", idempotency_key
            )
            if first["body_sha256"] != fingerprint(request):
                raise IdempotencyConflict(idempotency_key)
            return Acceptance(first["request_id"], replayed=True)

    now = datetime.now(UTC)
    event = RequestSubmitted(request_id=request_id, submitted_at=now, channel=channel, request=request)
    envelope = Envelope.wrap(event, source=SERVICE, correlation_id=correlation_id or str(request_id))
    # One statement for the request and the first line of its timeline. ON CONFLICT: of two concurrent
    # submissions of one agency's client reference, the second finds the first.
    inserted = await conn.fetchval(
        "WITH accepted AS (INSERT INTO requests (request_id, submitted_at, channel, agency_key, client_reference,"
        " body, status, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'submitted', $2)"
        " ON CONFLICT (agency_key, client_reference) WHERE client_reference IS NOT NULL DO NOTHING"
        " RETURNING request_id)"
        " INSERT INTO request_timeline (event_id, request_id, at, status, detail)"
        " SELECT $7, request_id, $2, 'submitted', $8 FROM accepted RETURNING request_id",
        request_id,
        now,
        channel,
        agency_key(request.agency),
        request.client_reference,
        request.model_dump(mode="json"),
        envelope.event_id,
        {"channel": channel},
    )
    if inserted is None:
        earlier = await conn.fetchval(
            "SELECT request_id FROM requests WHERE agency_key = $1 AND client_reference = $2",
            agency_key(request.agency),
            request.client_reference,
        )
        if idempotency_key is not None:
            await conn.execute("UPDATE idempotency_keys SET request_id = $2 WHERE key = $1", idempotency_key, earlier)
        return Acceptance(earlier, replayed=True)
    uow.publish(envelope)
    return Acceptance(request_id, replayed=False)


async def record_status(conn: asyncpg.Connection, envelope: Envelope, request_id: UUID, change: StatusChange) -> None:
    """Append a downstream event to the request's timeline and move its status forward."""
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(change.columns, start=4))
    await conn.execute(
        # Events from two topics can arrive out of order: the latest by occurrence decides the status, but the
        # columns an event sets (tier, provider, engagement) are kept whichever arrives first.
        "UPDATE requests SET status = CASE WHEN updated_at <= $3 THEN $2 ELSE status END,"
        f" updated_at = greatest(updated_at, $3){', ' if assignments else ''}{assignments}"
        " WHERE request_id = $1",
        request_id,
        change.status,
        envelope.occurred_at,
        *change.columns.values(),
    )
    await conn.execute(
        "INSERT INTO request_timeline (event_id, request_id, at, status, detail) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (event_id) DO NOTHING",
        envelope.event_id,
        request_id,
        envelope.occurred_at,
        change.status,
        change.detail,
    )


async def load_status(conn: asyncpg.Connection, request_id: UUID) -> dict | None:
    row = await conn.fetchrow(
        "SELECT request_id, status, submitted_at, updated_at, tier, provider_id, provider_name, engagement_id,"
        " channel, agency_key, body->'agency'->>'name' AS agency_name FROM requests WHERE request_id = $1",
        request_id,
    )
    if row is None:
        return None
    timeline = await conn.fetch(
        "SELECT at, status, detail FROM request_timeline WHERE request_id = $1 ORDER BY at, status", request_id
    )
    return {**dict(row), "timeline": [dict(t) for t in timeline]}


async def purge_expired_keys(conn: asyncpg.Connection, key_ttl: timedelta) -> int:
    result = await conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", key_ttl)
    return int(result.split()[-1])
