"""Intake's PostgreSQL edge, SQL only: the requests table, its timeline and the idempotency keys. Rows come back
as the typed records below; the events are built by the commands."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.intake.domain.status import StatusChange
from shared.contract.events import RequestSubmitted


@dataclass(frozen=True, slots=True)
class KeyUse:
    """An idempotency key in use: the digest of the body it came with and the request it answers."""

    body_sha256: bytes
    request_id: UUID


@dataclass(frozen=True, slots=True)
class TimelineRow:
    at: datetime
    status: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StatusRow:
    """Where a request is, with the agency it belongs to (`agency_key`, for deciding who may read it)."""

    request_id: UUID
    status: str
    agency_name: str
    agency_key: str
    channel: str
    submitted_at: datetime
    updated_at: datetime
    tier: str | None
    provider_id: str | None
    provider_name: str | None
    engagement_id: UUID | None
    timeline: tuple[TimelineRow, ...]


class PostgresStore:
    """Intake's tables through one connection: the caller's transaction, when it has one."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def claim_key(self, key: str, body_sha256: bytes, request_id: UUID, ttl: timedelta) -> KeyUse | None:
        """Take `key` for `request_id` and answer None; or, when it is in use within its retention, its use."""
        # An expired key is taken over, as if new.
        claimed = await self._conn.fetchval(
            "INSERT INTO idempotency_keys (key, body_sha256, request_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (key) DO UPDATE SET body_sha256 = EXCLUDED.body_sha256,"
            " request_id = EXCLUDED.request_id, created_at = now()"
            " WHERE idempotency_keys.created_at < now() - $4::interval RETURNING request_id",
            key,
            body_sha256,
            request_id,
            ttl,
        )
        if claimed is not None:
            return None
        first = await self._conn.fetchrow("SELECT body_sha256, request_id FROM idempotency_keys WHERE key = $1", key)
        return KeyUse(first["body_sha256"], first["request_id"])

    async def point_key(self, key: str, request_id: UUID) -> None:
        await self._conn.execute("UPDATE idempotency_keys SET request_id = $2 WHERE key = $1", key, request_id)

    async def record_request(self, submitted: RequestSubmitted, *, event_id: UUID, agency_key: str) -> UUID:
        """Insert the submitted request with the first line of its timeline (the event `event_id`) and answer its
        id; or answer the request the agency recorded before under the same client reference."""
        request = submitted.request
        # One statement for the request and its first timeline line. ON CONFLICT: of two concurrent submissions
        # of one agency's client reference, the second finds the first.
        inserted = await self._conn.fetchval(
            "WITH accepted AS (INSERT INTO requests (request_id, submitted_at, channel, agency_key, client_reference,"
            " body, status, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'submitted', $2)"
            " ON CONFLICT (agency_key, client_reference) WHERE client_reference IS NOT NULL DO NOTHING"
            " RETURNING request_id)"
            " INSERT INTO request_timeline (event_id, request_id, at, status, detail)"
            " SELECT $7, request_id, $2, 'submitted', $8 FROM accepted RETURNING request_id",
            submitted.request_id,
            submitted.submitted_at,
            submitted.channel,
            agency_key,
            request.client_reference,
            request.model_dump(mode="json"),
            event_id,
            {"channel": submitted.channel},
        )
        if inserted is not None:
            return inserted
        return await self._conn.fetchval(
            "SELECT request_id FROM requests WHERE agency_key = $1 AND client_reference = $2",
            agency_key,
            request.client_reference,
        )

    async def record_status(self, request_id: UUID, event_id: UUID, at: datetime, change: StatusChange) -> None:
        """Append a downstream event (`event_id`, occurred `at`) to the request's timeline and move its status."""
        assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(change.columns, start=4))
        await self._conn.execute(
            # Events from two topics can arrive out of order: the latest by occurrence decides the status, but the
            # columns an event sets (tier, provider, engagement) are kept whichever arrives first.
            "UPDATE requests SET status = CASE WHEN updated_at <= $3 THEN $2 ELSE status END,"
            f" updated_at = greatest(updated_at, $3){', ' if assignments else ''}{assignments}"
            " WHERE request_id = $1",
            request_id,
            change.status,
            at,
            *change.columns.values(),
        )
        await self._conn.execute(
            "INSERT INTO request_timeline (event_id, request_id, at, status, detail) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (event_id) DO NOTHING",
            event_id,
            request_id,
            at,
            change.status,
            change.detail,
        )

    async def load_status(self, request_id: UUID) -> StatusRow | None:
        row = await self._conn.fetchrow(
            "SELECT request_id, status, submitted_at, updated_at, tier, provider_id, provider_name, engagement_id,"
            " channel, agency_key, body->'agency'->>'name' AS agency_name FROM requests WHERE request_id = $1",
            request_id,
        )
        if row is None:
            return None
        timeline = await self._conn.fetch(
            "SELECT at, status, detail FROM request_timeline WHERE request_id = $1 ORDER BY at, status", request_id
        )
        return StatusRow(**row, timeline=tuple(TimelineRow(**entry) for entry in timeline))

    async def purge_expired_keys(self, ttl: timedelta) -> int:
        result = await self._conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", ttl)
        return int(result.split()[-1])
