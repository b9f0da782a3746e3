"""Routing's PostgreSQL edge: provider registry and load, requests and their decisions, the waiting queue."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.routing.domain.decision import Decision
from services.routing.domain.providers import ProviderLoad, ProviderRecord
from shared.contract.vocabulary import Tier


async def seed_providers(conn: asyncpg.Connection, records: Sequence[ProviderRecord]) -> None:
    """Upsert the registry from the data file; load counters are kept."""
    await conn.executemany(
        "INSERT INTO providers (provider_id, tier, record) VALUES ($1, $2, $3)"
        " ON CONFLICT (provider_id) DO UPDATE SET tier = EXCLUDED.tier, record = EXCLUDED.record, updated_at = now()",
        [(r.provider_id, r.tier.value, r.model_dump(mode="json")) for r in records],
    )


_LOADS = "SELECT record, active, assigned_total FROM providers ORDER BY provider_id"


def _loads(rows: Sequence[asyncpg.Record]) -> list[ProviderLoad]:
    return [ProviderLoad(ProviderRecord.model_validate(r["record"]), r["active"], r["assigned_total"]) for r in rows]


async def lock_loads(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, locked until the transaction ends: replicas deciding at the same time
    take turns, so a provider's capacity can never be exceeded. The registry is small; the lock is brief."""
    return _loads(await conn.fetch(f"{_LOADS} FOR UPDATE"))


async def current_loads(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, unlocked: for reading, never for deciding."""
    return _loads(await conn.fetch(_LOADS))


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
    conn: asyncpg.Connection,
    request_id: UUID,
    decision: Decision,
    *,
    decided_by: str,
    reason: str | None = None,
    staff_member: str | None = None,
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
        " candidates, review_reasons, reason, staff_member) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        staff_member,
    )


async def queued_requests(conn: asyncpg.Connection, tier: Tier, limit: int) -> list[asyncpg.Record]:
    """Waiting requests of a tier, in arrival order within priority; rows another replica holds are skipped."""
    return await conn.fetch(
        "SELECT request_id, correlation_id, request, escalated_from FROM requests WHERE outcome = 'queued'"
        " AND tier = $1"
        " ORDER BY priority, submitted_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        tier.value,
        limit,
    )


async def mark_escalated(conn: asyncpg.Connection, request_id: UUID, engagement_id: UUID) -> None:
    await conn.execute("UPDATE requests SET escalated_from = $2 WHERE request_id = $1", request_id, engagement_id)


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


async def lock_request(conn: asyncpg.Connection, request_id: UUID) -> asyncpg.Record | None:
    """A request with its current decision, locked so a concurrent decision about it waits."""
    return await conn.fetchrow(
        "SELECT request_id, correlation_id, request, outcome, tier, provider_id, escalated_from FROM requests"
        " WHERE request_id = $1"
        " FOR UPDATE",
        request_id,
    )


async def has_engagement(conn: asyncpg.Connection, request_id: UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM engagement_places WHERE request_id = $1)", request_id)


async def decisions_of(conn: asyncpg.Connection, request_id: UUID) -> list[asyncpg.Record]:
    """A request's decision history, oldest first."""
    return await conn.fetch(
        "SELECT decided_at, decided_by, staff_member, reason, outcome, tier, provider_id, policy_version, rules_fired,"
        " candidates, review_reasons FROM decisions WHERE request_id = $1 ORDER BY id",
        request_id,
    )


async def request_exists(conn: asyncpg.Connection, request_id: UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM requests WHERE request_id = $1)", request_id)


async def registry(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT provider_id, tier, record, active, assigned_total FROM providers ORDER BY tier, provider_id"
    )


async def policy_decided_requests(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every request with the latest decision the policy made about it, in arrival order (for replay)."""
    return await conn.fetch(
        "SELECT r.request_id, r.submitted_at, r.request, d.outcome, d.tier, d.provider_id, d.policy_version"
        " FROM requests r JOIN LATERAL (SELECT outcome, tier, provider_id, policy_version FROM decisions"
        "  WHERE request_id = r.request_id AND decided_by = 'policy' ORDER BY id DESC LIMIT 1) d ON true"
        " ORDER BY r.submitted_at, r.request_id"
    )
