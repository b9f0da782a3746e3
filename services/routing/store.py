"""Routing's PostgreSQL edge: provider registry and load, requests and their decisions, the waiting queue. SQL
only; rows come back typed."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.routing.domain.decision import Decision
from services.routing.domain.providers import ProviderLoad, ProviderRecord
from services.routing.domain.what_if import Outcome, PastRequest
from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Tier


@dataclass(frozen=True)
class RequestRow:
    """A request as routing keeps it, with its current decision."""

    request_id: UUID
    correlation_id: str
    request: RequestForAssistance
    outcome: str = "pending"  # until the first decision; then routed, queued or needs_review
    provider_id: str | None = None
    escalated_from: UUID | None = None  # the engagement it was escalated from


@dataclass(frozen=True)
class DecisionRow:
    """One decision of a request's history."""

    decided_at: datetime
    decided_by: str
    staff_member: str | None
    reason: str | None
    outcome: str
    tier: str | None
    provider_id: str | None
    policy_version: str | None
    rules_fired: list[str]
    candidates: list[dict[str, Any]]
    review_reasons: list[str]


@dataclass(frozen=True)
class SubmittedRequest:
    """A request as staff judge it: what the agency sent, when, and where it stands now."""

    request_id: UUID
    submitted_at: datetime
    request: RequestForAssistance
    outcome: str
    tier: str | None
    provider_id: str | None


@dataclass(frozen=True)
class WaitingRequest:
    """A request in staff's queue (in review, or waiting for a place), with what its latest decision found."""

    request_id: UUID
    submitted_at: datetime
    since: datetime  # when its latest decision put it there
    outcome: str  # needs_review or queued
    tier: str | None  # the tier it waits for (queued)
    urgency: str
    agency: str
    state: str
    review_reasons: list[str]


async def seed_providers(conn: asyncpg.Connection, records: Sequence[ProviderRecord]) -> None:
    """Upsert the registry from the data file; load counters are kept."""
    await conn.executemany(
        "INSERT INTO providers (provider_id, tier, record) VALUES ($1, $2, $3)"
        " ON CONFLICT (provider_id) DO UPDATE SET tier = EXCLUDED.tier, record = EXCLUDED.record, updated_at = now()",
        [(r.provider_id, r.tier.value, r.model_dump(mode="json")) for r in records],
    )


_LOADS = "SELECT record, active, assigned_total FROM providers"


def _loads(rows: Sequence[asyncpg.Record]) -> list[ProviderLoad]:
    return [ProviderLoad(ProviderRecord.model_validate(r["record"]), r["active"], r["assigned_total"]) for r in rows]


async def lock_loads(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, locked until the transaction ends: replicas deciding at the same time
    take turns, so a provider's capacity can never be exceeded. The registry is small; the lock is brief."""
    return _loads(await conn.fetch(f"{_LOADS} ORDER BY provider_id FOR UPDATE"))


async def current_loads(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, unlocked: for reading, never for deciding."""
    return _loads(await conn.fetch(f"{_LOADS} ORDER BY provider_id"))


async def registry(conn: asyncpg.Connection) -> list[ProviderLoad]:
    """Every provider with its load, by tier: for reading."""
    return _loads(await conn.fetch(f"{_LOADS} ORDER BY tier, provider_id"))


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


async def record_request(conn: asyncpg.Connection, row: RequestRow, submitted_at: datetime, priority: int) -> bool:
    """Remember a submitted request; False when it was already known (then nothing is decided twice)."""
    inserted = await conn.fetchval(
        "INSERT INTO requests (request_id, submitted_at, correlation_id, request, priority, outcome, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, 'pending', now()) ON CONFLICT (request_id) DO NOTHING RETURNING true",
        row.request_id,
        submitted_at,
        row.correlation_id,
        row.request.model_dump(mode="json"),
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


async def record_withdrawal(conn: asyncpg.Connection, request_id: UUID, *, reason: str | None) -> None:
    """The request leaves the queue; its history gains the agency's withdrawal."""
    await conn.execute(
        "UPDATE requests SET outcome = 'withdrawn', updated_at = now() WHERE request_id = $1", request_id
    )
    await conn.execute(
        "INSERT INTO decisions (request_id, decided_by, outcome, reason) VALUES ($1, 'agency', 'withdrawn', $2)",
        request_id,
        reason,
    )


_REQUESTS = "SELECT request_id, correlation_id, request, outcome, provider_id, escalated_from FROM requests"


def _request(row: asyncpg.Record) -> RequestRow:
    return RequestRow(
        request_id=row["request_id"],
        correlation_id=row["correlation_id"],
        request=RequestForAssistance.model_validate(row["request"]),
        outcome=row["outcome"],
        provider_id=row["provider_id"],
        escalated_from=row["escalated_from"],
    )


async def queued_requests(conn: asyncpg.Connection, tier: Tier, limit: int) -> list[RequestRow]:
    """Waiting requests of a tier, in arrival order within priority; rows another replica holds are skipped."""
    rows = await conn.fetch(
        f"{_REQUESTS} WHERE outcome = 'queued' AND tier = $1 ORDER BY priority, submitted_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED",
        tier.value,
        limit,
    )
    return [_request(row) for row in rows]


async def lock_request(conn: asyncpg.Connection, request_id: UUID) -> RequestRow | None:
    """A request with its current decision, locked so a concurrent decision about it waits."""
    row = await conn.fetchrow(f"{_REQUESTS} WHERE request_id = $1 FOR UPDATE", request_id)
    return _request(row) if row else None


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


async def has_engagement(conn: asyncpg.Connection, request_id: UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM engagement_places WHERE request_id = $1)", request_id)


async def decisions_of(conn: asyncpg.Connection, request_id: UUID) -> list[DecisionRow]:
    """A request's decision history, oldest first."""
    rows = await conn.fetch(
        "SELECT decided_at, decided_by, staff_member, reason, outcome, tier, provider_id, policy_version, rules_fired,"
        " candidates, review_reasons FROM decisions WHERE request_id = $1 ORDER BY id",
        request_id,
    )
    return [DecisionRow(**row) for row in rows]


async def request_exists(conn: asyncpg.Connection, request_id: UUID) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM requests WHERE request_id = $1)", request_id)


async def policy_decided_requests(conn: asyncpg.Connection) -> list[PastRequest]:
    """Every request with the latest decision the policy made about it, in arrival order, each on the day it was
    submitted (for the what-if replay)."""
    rows = await conn.fetch(
        "SELECT r.request_id, r.submitted_at, r.request, d.outcome, d.tier, d.provider_id"
        " FROM requests r JOIN LATERAL (SELECT outcome, tier, provider_id FROM decisions"
        "  WHERE request_id = r.request_id AND decided_by = 'policy' ORDER BY id DESC LIMIT 1) d ON true"
        " ORDER BY r.submitted_at, r.request_id"
    )
    return [
        PastRequest(
            row["request_id"],
            row["submitted_at"].date(),
            RequestForAssistance.model_validate(row["request"]),
            Outcome(row["outcome"], row["tier"], row["provider_id"]),
        )
        for row in rows
    ]


async def submitted_request(conn: asyncpg.Connection, request_id: UUID) -> SubmittedRequest | None:
    row = await conn.fetchrow(
        "SELECT request_id, submitted_at, request, outcome, tier, provider_id FROM requests WHERE request_id = $1",
        request_id,
    )
    if row is None:
        return None
    return SubmittedRequest(**{**row, "request": RequestForAssistance.model_validate(row["request"])})


async def decision_count(conn: asyncpg.Connection, request_id: UUID) -> int:
    return await conn.fetchval("SELECT count(*) FROM decisions WHERE request_id = $1", request_id)


async def waiting_for_staff(conn: asyncpg.Connection) -> list[WaitingRequest]:
    """Requests in review or waiting for a place, most urgent first, then oldest, each with its latest decision."""
    rows = await conn.fetch(
        "SELECT r.request_id, r.submitted_at, d.decided_at AS since, r.outcome, r.tier,"
        " r.request->>'urgency' AS urgency, r.request->'agency'->>'name' AS agency,"
        " r.request->'agency'->>'state' AS state, d.review_reasons"
        " FROM requests r JOIN LATERAL (SELECT decided_at, review_reasons FROM decisions"
        "  WHERE request_id = r.request_id ORDER BY id DESC LIMIT 1) d ON true"
        " WHERE r.outcome IN ('needs_review', 'queued') ORDER BY r.priority, r.submitted_at, r.request_id"
    )
    return [WaitingRequest(**row) for row in rows]
