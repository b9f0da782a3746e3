"""Engagements' PostgreSQL edge: engagements, their audit trail."""

from datetime import datetime
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
    correlation_id: str,
    escalated_from: UUID | None,
) -> None:
    await conn.execute(
        "INSERT INTO engagements (engagement_id, request_id, tier, provider, agency, urgency, status, opened_at,"
        " status_since, correlation_id, escalated_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)",
        engagement_id,
        request_id,
        tier,
        provider.model_dump(mode="json"),
        agency.model_dump(mode="json"),
        urgency,
        status,
        opened_at,
        correlation_id,
        escalated_from,
    )


async def open_engagement_of(conn: asyncpg.Connection, request_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM engagements WHERE request_id = $1 AND closed_at IS NULL", request_id)


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


def snapshot(row: asyncpg.Record) -> EngagementSnapshot:
    """The dashboard's view of an engagement row (no personal contact data is stored here at all)."""
    return EngagementSnapshot(
        engagement_id=row["engagement_id"],
        request_id=row["request_id"],
        tier=row["tier"],
        provider=ProviderRef.model_validate(row["provider"]),
        agency=AgencySummary.model_validate(row["agency"]),
        status=row["status"],
        milestones=[m["milestone"] for m in row["milestones"]],
        opened_at=row["opened_at"],
        first_contact_at=row["first_contact_at"],
        closed_at=row["closed_at"],
        version=row["version"],
    )
