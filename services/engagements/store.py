"""Engagements' PostgreSQL edge: engagements, their audit trail, their deadlines, the dashboard's figures."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.contract.events import AgencySummary, EngagementSnapshot, ProviderRef


async def open_engagement(
    conn: asyncpg.Connection,
    *,
    engagement_id: UUID,
    request_id: UUID,
    tier: str,
    provider: ProviderRef,
    agency: AgencySummary,
    urgency: str,
    status: str,
    opened_at: datetime,
    first_contact_at: datetime | None,
    correlation_id: str,
    escalated_from: UUID | None,
) -> None:
    await conn.execute(
        "INSERT INTO engagements (engagement_id, request_id, tier, provider, agency, urgency, status, opened_at,"
        " status_since, first_contact_at, correlation_id, escalated_from)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11)",
        engagement_id,
        request_id,
        tier,
        provider.model_dump(mode="json"),
        agency.model_dump(mode="json"),
        urgency,
        status,
        opened_at,
        first_contact_at,
        correlation_id,
        escalated_from,
    )


async def open_engagement_of(conn: asyncpg.Connection, request_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM engagements WHERE request_id = $1 AND closed_at IS NULL", request_id)


async def load(conn: asyncpg.Connection, engagement_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM engagements WHERE engagement_id = $1", engagement_id)


async def record_milestone(
    conn: asyncpg.Connection,
    engagement_id: UUID,
    expected_version: int,
    *,
    status: str,
    entry: dict[str, Any],
    at: datetime,
    first_contact: bool,
) -> asyncpg.Record | None:
    """Apply a milestone if nobody changed the engagement since `expected_version`; None when someone did."""
    return await conn.fetchrow(
        "UPDATE engagements SET status = $3, milestones = milestones || jsonb_build_array($4::jsonb),"
        " status_since = $5, overdue = false, version = version + 1,"
        " first_contact_at = CASE WHEN $6 THEN coalesce(first_contact_at, $5) ELSE first_contact_at END"
        " WHERE engagement_id = $1 AND version = $2 RETURNING *",
        engagement_id,
        expected_version,
        status,
        entry,
        at,
        first_contact,
    )


async def close(
    conn: asyncpg.Connection, engagement_id: UUID, expected_version: int, *, status: str, outcome: str, at: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE engagements SET status = $3, outcome = $4, closed_at = $5, status_since = $5, overdue = false,"
        " version = version + 1 WHERE engagement_id = $1 AND version = $2 RETURNING *",
        engagement_id,
        expected_version,
        status,
        outcome,
        at,
    )


async def audit(
    conn: asyncpg.Connection, engagement_id: UUID, actor: str, action: str, detail: dict, reason: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO audit_trail (engagement_id, actor, action, detail, reason) VALUES ($1, $2, $3, $4, $5)",
        engagement_id,
        actor,
        action,
        detail,
        reason,
    )


async def audit_trail(conn: asyncpg.Connection, engagement_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT at, actor, action, detail, reason FROM audit_trail WHERE engagement_id = $1 ORDER BY id", engagement_id
    )


async def set_deadline(conn: asyncpg.Connection, engagement_id: UUID, deadline: tuple[str, datetime] | None) -> None:
    """Replace the engagement's pending deadline by `deadline` (none once nothing is due)."""
    await conn.execute("DELETE FROM deadlines WHERE engagement_id = $1 AND fired_at IS NULL", engagement_id)
    if deadline is not None:
        await conn.execute(
            "INSERT INTO deadlines (engagement_id, milestone, due_at) VALUES ($1, $2, $3)", engagement_id, *deadline
        )


async def pending_deadline(conn: asyncpg.Connection, engagement_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT milestone, due_at FROM deadlines WHERE engagement_id = $1 AND fired_at IS NULL", engagement_id
    )


async def claim_missed_deadlines(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Mark up to `limit` due deadlines fired. Rows another replica holds are skipped, so each deadline fires
    once; call inside the transaction that publishes what follows."""
    return await conn.fetch(
        "UPDATE deadlines SET fired_at = now() WHERE id IN (SELECT id FROM deadlines"
        " WHERE fired_at IS NULL AND due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING engagement_id, milestone, due_at, fired_at",
        limit,
    )


async def mark_overdue(conn: asyncpg.Connection, engagement_ids: list[UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "UPDATE engagements SET overdue = true WHERE engagement_id = ANY($1::uuid[]) RETURNING *", engagement_ids
    )


@dataclass(frozen=True, slots=True)
class Filters:
    tier: str | None = None
    status: str | None = None
    provider_id: str | None = None
    overdue: bool | None = None


async def list_engagements(
    conn: asyncpg.Connection, filters: Filters, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    where = (
        "($1::text IS NULL OR tier = $1) AND ($2::text IS NULL OR status = $2)"
        " AND ($3::text IS NULL OR provider->>'provider_id' = $3) AND ($4::bool IS NULL OR overdue = $4)"
    )
    args = (filters.tier, filters.status, filters.provider_id, filters.overdue)
    total = await conn.fetchval(f"SELECT count(*) FROM engagements WHERE {where}", *args)
    rows = await conn.fetch(
        f"SELECT * FROM engagements WHERE {where} ORDER BY opened_at DESC, engagement_id LIMIT $5 OFFSET $6",
        *args,
        limit,
        offset,
    )
    return rows, total


async def dashboard(conn: asyncpg.Connection) -> dict[str, Any]:
    """The portfolio at a glance: counts by tier and status, overdue engagements, load per provider, median
    time to first contact, and the latest changes."""
    by_tier_status = await conn.fetch("SELECT tier, status, count(*) AS n FROM engagements GROUP BY 1, 2 ORDER BY 1, 2")
    providers = await conn.fetch(
        "SELECT provider->>'name' AS provider, count(*) FILTER (WHERE closed_at IS NULL) AS open, count(*) AS total"
        " FROM engagements GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    first_contact = await conn.fetch(
        "SELECT tier, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_contact_at - opened_at))"
        " AS median_s, count(*) AS n FROM engagements WHERE first_contact_at IS NOT NULL GROUP BY 1 ORDER BY 1"
    )
    overdue = await conn.fetch(
        "SELECT engagement_id, tier, status, agency->>'name' AS agency, provider->>'name' AS provider"
        " FROM engagements WHERE overdue ORDER BY status_since LIMIT 20"
    )
    latest = await conn.fetch(
        "SELECT a.id, a.at, a.actor, a.action, e.tier, e.agency->>'name' AS agency"
        " FROM audit_trail a JOIN engagements e USING (engagement_id) ORDER BY a.id DESC LIMIT 12"
    )
    return {
        "total": sum(r["n"] for r in by_tier_status),
        "overdue_total": await conn.fetchval("SELECT count(*) FROM engagements WHERE overdue"),
        "by_tier_status": [dict(r) for r in by_tier_status],
        "providers": [dict(r) for r in providers],
        "first_contact": [dict(r) for r in first_contact],
        "overdue": [dict(r, engagement_id=str(r["engagement_id"])) for r in overdue],
        "latest": [dict(r, at=r["at"].isoformat()) for r in latest],
    }


def snapshot(row: asyncpg.Record) -> EngagementSnapshot:
    """The dashboard's view of an engagement row (no personal contact data is stored here at all)."""
    return EngagementSnapshot(
        engagement_id=row["engagement_id"],
        request_id=row["request_id"],
        tier=row["tier"],
        # Dashboards see who the provider is, not its mailbox.
        provider=ProviderRef.model_validate(row["provider"]).model_copy(update={"contact_email": None}),
        agency=AgencySummary.model_validate(row["agency"]),
        status=row["status"],
        milestones=[m["milestone"] for m in row["milestones"]],
        opened_at=row["opened_at"],
        first_contact_at=row["first_contact_at"],
        closed_at=row["closed_at"],
        overdue=row["overdue"],
        version=row["version"],
    )


async def add_recommendation(
    conn: asyncpg.Connection, engagement_id: UUID, recommendation_id: UUID, text: str, status: str, by: str
) -> None:
    await conn.execute(
        "INSERT INTO recommendations (recommendation_id, engagement_id, text, status) VALUES ($1, $2, $3, $4)",
        recommendation_id,
        engagement_id,
        text,
        status,
    )
    await conn.execute(
        "INSERT INTO recommendation_history (recommendation_id, status, changed_by) VALUES ($1, $2, $3)",
        recommendation_id,
        status,
        by,
    )


async def load_recommendation(
    conn: asyncpg.Connection, engagement_id: UUID, recommendation_id: UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM recommendations WHERE engagement_id = $1 AND recommendation_id = $2",
        engagement_id,
        recommendation_id,
    )


async def change_recommendation(
    conn: asyncpg.Connection, recommendation_id: UUID, current: str, new: str, by: str, note: str | None
) -> bool:
    """Move the recommendation from `current` to `new`; False when someone moved it first."""
    moved = await conn.fetchval(
        "UPDATE recommendations SET status = $3 WHERE recommendation_id = $1 AND status = $2 RETURNING true",
        recommendation_id,
        current,
        new,
    )
    if moved:
        await conn.execute(
            "INSERT INTO recommendation_history (recommendation_id, status, changed_by, note) VALUES ($1, $2, $3, $4)",
            recommendation_id,
            new,
            by,
            note,
        )
    return bool(moved)


async def recommendations(conn: asyncpg.Connection, engagement_id: UUID) -> list[dict[str, Any]]:
    """The engagement's recommendations, oldest first, each with its status history."""
    rows = await conn.fetch(
        "SELECT r.recommendation_id, r.text, r.status, r.created_at,"
        " jsonb_agg(jsonb_build_object('status', h.status, 'at', h.at, 'changed_by', h.changed_by, 'note', h.note)"
        "  ORDER BY h.id) AS history"
        " FROM recommendations r JOIN recommendation_history h USING (recommendation_id)"
        " WHERE r.engagement_id = $1 GROUP BY r.recommendation_id ORDER BY r.created_at, r.recommendation_id",
        engagement_id,
    )
    return [dict(row) for row in rows]
