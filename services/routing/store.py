"""Routing's PostgreSQL edge: provider registry and load, requests and their decisions, the waiting queue."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.routing.policy import Decision, ProviderLoad, ProviderRecord
from shared.contract.catalog import Tier


async def seed_providers(conn: asyncpg.Connection, records: Sequence[ProviderRecord]) -> None:
    """Upsert the registry from the data file; load counters are kept."""
    await conn.executemany(
        "INSERT INTO providers (provider_id, tier, record) VALUES ($1, $2, $3)"
        " ON CONFLICT (provider_id) DO UPDATE SET tier = EXCLUDED.tier, record = EXCLUDED.record, updated_at = now()",
        [(r.provider_id, r.tier.value, r.model_dump(mode="json")) for r in records],
    )


async def lock_loads(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, locked until the transaction ends: replicas deciding at the same time
    take turns, so a provider's capacity can never be exceeded. The registry is small; the lock is brief."""
    rows = await conn.fetch("SELECT record, active, assigned_total FROM providers ORDER BY provider_id FOR UPDATE")
    return [ProviderLoad(ProviderRecord.model_validate(r["record"]), r["active"], r["assigned_total"]) for r in rows]


async def reserve_place(conn: asyncpg.Connection, provider_id: str) -> None:
    await conn.execute(
        "UPDATE providers SET active = active + 1, assigned_total = assigned_total + 1, updated_at = now()"
        " WHERE provider_id = $1",
        provider_id,
    )


async def release_place(conn: asyncpg.Connection, provider_id: str) -> None:
    await conn.execute(
        "UPDATE providers SET active = greatest(active - 1, 0), updated_at = now() WHERE provider_id = $1", provider_id
    )


async def record_request(
    conn: asyncpg.Connection,
    request_id: UUID,
    submitted_at: datetime,
    correlation_id: str,
    request: dict,
    priority: int,
) -> bool:
    """Remember a submitted request; False when it was already known (then nothing is decided twice)."""
    inserted = await conn.fetchval(
        "INSERT INTO requests (request_id, submitted_at, correlation_id, request, priority, outcome, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, 'pending', now()) ON CONFLICT (request_id) DO NOTHING RETURNING true",
        request_id,
        submitted_at,
        correlation_id,
        request,
        priority,
    )
    return bool(inserted)


async def record_decision(
    conn: asyncpg.Connection, request_id: UUID, decision: Decision, *, decided_by: str, reason: str | None = None
) -> None:
    provider_id = decision.provider.provider_id if decision.provider else None
    tier = decision.tier.value if decision.tier else None
    await conn.execute(
        "UPDATE requests SET outcome = $2, tier = $3, provider_id = $4, updated_at = now() WHERE request_id = $1",
        request_id,
        decision.outcome,
        tier,
        provider_id,
    )
    await conn.execute(
        "INSERT INTO decisions (request_id, decided_by, outcome, tier, provider_id, policy_version, rules_fired,"
        " candidates, review_reasons, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        request_id,
        decided_by,
        decision.outcome,
        tier,
        provider_id,
        decision.policy_version,
        decision.rules_fired,
        [c.model_dump(mode="json") for c in decision.candidates],
        decision.review_reasons,
        reason,
    )


async def queued_requests(conn: asyncpg.Connection, tier: Tier, limit: int) -> list[asyncpg.Record]:
    """Waiting requests of a tier, in arrival order within priority; rows another replica holds are skipped."""
    return await conn.fetch(
        "SELECT request_id, correlation_id, request FROM requests WHERE outcome = 'queued' AND tier = $1"
        " ORDER BY priority, submitted_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        tier.value,
        limit,
    )


async def hold_place(conn: asyncpg.Connection, engagement_id: UUID, request_id: UUID, provider_id: str) -> None:
    await conn.execute(
        "INSERT INTO engagement_places (engagement_id, request_id, provider_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (engagement_id) DO NOTHING",
        engagement_id,
        request_id,
        provider_id,
    )


async def free_place(conn: asyncpg.Connection, engagement_id: UUID) -> str | None:
    """Release the engagement's place once; returns the provider whose place was freed."""
    return await conn.fetchval(
        "UPDATE engagement_places SET released_at = now() WHERE engagement_id = $1 AND released_at IS NULL"
        " RETURNING provider_id",
        engagement_id,
    )
