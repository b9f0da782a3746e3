"""Engagements' PostgreSQL edge: engagements, their audit trail, their deadlines, an assessment's recommendations,
the requests as submitted (and where they wait for routing) and the dashboard's figures. SQL only;
`PostgresStore` returns typed rows (the models below), never a record."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict

from shared.contract.events import AgencySummary, ProviderRef
from shared.contract.requests import AssistanceRequested, Contact
from shared.contract.vocabulary import Tier


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


R = TypeVar("R", bound=_Row)


def _one(model: type[R], record: asyncpg.Record | None) -> R | None:
    return None if record is None else model.model_validate(dict(record))


def _all(model: type[R], records: list[asyncpg.Record]) -> list[R]:
    return [model.model_validate(dict(record)) for record in records]


class EngagementRow(_Row):
    """An engagement as stored; `milestones` holds each recorded milestone with who recorded it, when and why."""

    engagement_id: UUID
    request_id: UUID
    tier: Tier
    provider: ProviderRef
    agency: AgencySummary
    urgency: str
    status: str
    milestones: list[dict[str, Any]]
    opened_at: datetime
    status_since: datetime
    first_contact_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    escalated_from: UUID | None
    correlation_id: str
    confidential: bool  # routing flagged it (the agency's own flag is in the request)
    overdue: bool
    version: int


class AuditEntry(_Row):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]
    reason: str | None


class Deadline(_Row):
    milestone: str
    due_at: datetime


class MissedDeadline(_Row):
    engagement_id: UUID
    milestone: str
    due_at: datetime
    fired_at: datetime


@dataclass(frozen=True, slots=True)
class AskedRequest:
    """A request as its agency sent it; `contact` is None until its RequestContactGiven has come."""

    request: AssistanceRequested
    contact: Contact | None


@dataclass(frozen=True, slots=True)
class Filters:
    tier: str | None = None
    status: str | None = None
    provider_id: str | None = None
    overdue: bool | None = None


class TierStatusCount(_Row):
    tier: str
    status: str
    n: int


class ProviderLoad(_Row):
    provider_id: str
    name: str
    open: int
    total: int


class FirstContactTime(_Row):
    tier: str
    median_s: float
    n: int


class OverdueEngagement(_Row):
    engagement_id: UUID
    tier: str
    status: str
    agency: str
    provider: str
    since: datetime  # when it reached the status it is stuck in


class LatestChange(_Row):
    id: int
    engagement_id: UUID
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]
    tier: str
    agency: str


class WaitingRequest(_Row):
    """A request waiting for routing's decision: in staff review, or for a provider with room."""

    request_id: UUID
    agency: str
    state: str
    since: datetime
    reason: str


class WeekCount(_Row):
    week: date
    n: int


class Portfolio(_Row):
    """The portfolio at a glance: counts by tier and status, overdue engagements, load per provider, median
    time to first contact, the latest changes, the requests waiting for routing and requests per week."""

    total: int
    open_total: int
    overdue_total: int
    by_tier_status: list[TierStatusCount]
    providers: list[ProviderLoad]
    first_contact: list[FirstContactTime]
    overdue: list[OverdueEngagement]
    latest: list[LatestChange]
    review_total: int
    review: list[WaitingRequest]  # the oldest 20
    waiting_total: int
    waiting: list[WaitingRequest]  # the oldest 20
    weekly: list[WeekCount]


class RecommendationStep(_Row):
    status: str
    at: datetime
    changed_by: str
    note: str | None


class Recommendation(_Row):
    recommendation_id: UUID
    text: str
    status: str
    created_at: datetime
    history: list[RecommendationStep]


class PostgresStore:
    """The service's tables, through one connection (in the caller's transaction when it has one)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def open_engagement(
        self,
        *,
        engagement_id: UUID,
        request_id: UUID,
        tier: Tier,
        provider: ProviderRef,
        agency: AgencySummary,
        urgency: str,
        status: str,
        opened_at: datetime,
        first_contact_at: datetime | None,
        correlation_id: str,
        escalated_from: UUID | None,
        confidential: bool,
        opened_by: str,
        audit_detail: dict[str, Any],
        deadline: tuple[str, datetime] | None,
    ) -> EngagementRow | None:
        """In one statement (an engagement opens for every routed request): the request leaves the dashboard's
        queues and, unless it already has an open engagement, the engagement opens with its audit entry and its
        first deadline. None when one was already open."""
        milestone, due_at = deadline or (None, None)
        record = await self.conn.fetchrow(
            "WITH unqueued AS (UPDATE requests SET queue = NULL, queued_since = NULL, queue_reason = NULL"
            " WHERE request_id = $2 AND queue IS NOT NULL),"
            " opened AS (INSERT INTO engagements (engagement_id, request_id, tier, provider, agency, urgency, status,"
            " opened_at, status_since, first_contact_at, correlation_id, escalated_from, confidential)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12)"
            " ON CONFLICT (request_id) WHERE closed_at IS NULL DO NOTHING RETURNING *),"
            " audited AS (INSERT INTO audit_trail (engagement_id, actor, action, detail)"
            " SELECT engagement_id, $13, 'opened', $14 FROM opened),"
            " due AS (INSERT INTO deadlines (engagement_id, milestone, due_at)"
            " SELECT engagement_id, $15, $16 FROM opened WHERE $15::text IS NOT NULL)"
            " SELECT * FROM opened",
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
            confidential,
            opened_by,
            audit_detail,
            milestone,
            due_at,
        )
        return None if record is None else EngagementRow.model_validate(dict(record))

    async def load(self, engagement_id: UUID) -> EngagementRow | None:
        record = await self.conn.fetchrow("SELECT * FROM engagements WHERE engagement_id = $1", engagement_id)
        return _one(EngagementRow, record)

    async def record_milestone(
        self,
        engagement_id: UUID,
        expected_version: int,
        *,
        status: str,
        entry: dict[str, Any],
        at: datetime,
        first_contact: bool,
    ) -> EngagementRow | None:
        """Apply a milestone if nobody changed the engagement since `expected_version`; None when someone did."""
        record = await self.conn.fetchrow(
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
        return _one(EngagementRow, record)

    async def close(
        self, engagement_id: UUID, expected_version: int, *, status: str, outcome: str, at: datetime
    ) -> EngagementRow | None:
        """Close the engagement if nobody changed it since `expected_version`; None when someone did."""
        record = await self.conn.fetchrow(
            "UPDATE engagements SET status = $3, outcome = $4, closed_at = $5, status_since = $5, overdue = false,"
            " version = version + 1 WHERE engagement_id = $1 AND version = $2 RETURNING *",
            engagement_id,
            expected_version,
            status,
            outcome,
            at,
        )
        return _one(EngagementRow, record)

    async def audit(
        self, engagement_id: UUID, actor: str, action: str, detail: dict, reason: str | None = None
    ) -> None:
        await self.conn.execute(
            "INSERT INTO audit_trail (engagement_id, actor, action, detail, reason) VALUES ($1, $2, $3, $4, $5)",
            engagement_id,
            actor,
            action,
            detail,
            reason,
        )

    async def audit_trail(self, engagement_id: UUID) -> list[AuditEntry]:
        records = await self.conn.fetch(
            "SELECT at, actor, action, detail, reason FROM audit_trail WHERE engagement_id = $1 ORDER BY id",
            engagement_id,
        )
        return _all(AuditEntry, records)

    async def set_deadline(self, engagement_id: UUID, deadline: tuple[str, datetime] | None) -> None:
        """Replace the engagement's pending deadline by `deadline` (none once nothing is due)."""
        await self.conn.execute("DELETE FROM deadlines WHERE engagement_id = $1 AND fired_at IS NULL", engagement_id)
        if deadline is not None:
            await self.conn.execute(
                "INSERT INTO deadlines (engagement_id, milestone, due_at) VALUES ($1, $2, $3)", engagement_id, *deadline
            )

    async def pending_deadline(self, engagement_id: UUID) -> Deadline | None:
        record = await self.conn.fetchrow(
            "SELECT milestone, due_at FROM deadlines WHERE engagement_id = $1 AND fired_at IS NULL", engagement_id
        )
        return _one(Deadline, record)

    async def claim_missed_deadlines(self, limit: int) -> list[MissedDeadline]:
        """Mark up to `limit` due deadlines fired. Rows another replica holds are skipped, so each deadline fires
        once; call inside the transaction that publishes what follows."""
        records = await self.conn.fetch(
            "UPDATE deadlines SET fired_at = now() WHERE id IN (SELECT id FROM deadlines"
            " WHERE fired_at IS NULL AND due_at <= now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING engagement_id, milestone, due_at, fired_at",
            limit,
        )
        return _all(MissedDeadline, records)

    async def mark_overdue(self, engagement_ids: list[UUID]) -> list[EngagementRow]:
        records = await self.conn.fetch(
            "UPDATE engagements SET overdue = true WHERE engagement_id = ANY($1::uuid[]) RETURNING *", engagement_ids
        )
        return _all(EngagementRow, records)

    async def list_engagements(self, filters: Filters, limit: int, offset: int) -> tuple[list[EngagementRow], int]:
        where = (
            "($1::text IS NULL OR tier = $1) AND ($2::text IS NULL OR status = $2)"
            " AND ($3::text IS NULL OR provider->>'provider_id' = $3) AND ($4::bool IS NULL OR overdue = $4)"
        )
        args = (filters.tier, filters.status, filters.provider_id, filters.overdue)
        total = await self.conn.fetchval(f"SELECT count(*) FROM engagements WHERE {where}", *args)
        records = await self.conn.fetch(
            f"SELECT * FROM engagements WHERE {where} ORDER BY opened_at DESC, engagement_id LIMIT $5 OFFSET $6",
            *args,
            limit,
            offset,
        )
        return _all(EngagementRow, records), total

    async def workspace(self, provider_id: str | None, status: str | None, limit: int = 500) -> list[EngagementRow]:
        """A provider's engagements (everyone's for None) in the order to work on them: overdue first, then the
        open ones that have waited longest in their status, then the closed ones, latest first."""
        records = await self.conn.fetch(
            "SELECT * FROM engagements WHERE ($1::text IS NULL OR provider->>'provider_id' = $1)"
            " AND ($2::text IS NULL OR status = $2)"
            " ORDER BY overdue DESC, closed_at IS NOT NULL, CASE WHEN closed_at IS NULL THEN status_since END,"
            " closed_at DESC, engagement_id LIMIT $3",
            provider_id,
            status,
            limit,
        )
        return _all(EngagementRow, records)

    async def remember_request(self, request_id: UUID, submitted_at: datetime, request: AssistanceRequested) -> None:
        await self.conn.execute(
            "INSERT INTO requests (request_id, submitted_at, request) VALUES ($1, $2, $3)"
            " ON CONFLICT (request_id) DO NOTHING",
            request_id,
            submitted_at,
            request.model_dump(mode="json"),
        )

    async def remember_contact(self, request_id: UUID, contact: Contact) -> None:
        await self.conn.execute(
            "INSERT INTO request_contacts (request_id, contact) VALUES ($1, $2) ON CONFLICT (request_id) DO NOTHING",
            request_id,
            contact.model_dump(mode="json"),
        )

    async def request_of(self, request_id: UUID) -> AskedRequest | None:
        """The request as submitted, with its contact person once that has come; None for one submitted before
        engagements kept requests."""
        found = await self.conn.fetchrow(
            "SELECT r.request, c.contact FROM requests r LEFT JOIN request_contacts c USING (request_id)"
            " WHERE r.request_id = $1",
            request_id,
        )
        if found is None:
            return None
        contact = found["contact"]
        return AskedRequest(
            AssistanceRequested.model_validate(found["request"]),
            None if contact is None else Contact.model_validate(contact),
        )

    async def set_queue(self, request_id: UUID, queue: str | None, since: datetime | None, reason: str | None) -> None:
        """Where the request waits for routing (`review`, `waiting`), or nowhere (None) once decided."""
        await self.conn.execute(
            "UPDATE requests SET queue = $2, queued_since = $3, queue_reason = $4 WHERE request_id = $1",
            request_id,
            queue,
            since,
            reason,
        )

    async def portfolio(self, weeks_since: date) -> Portfolio:
        by_tier_status = await self.conn.fetch(
            "SELECT tier, status, count(*) AS n FROM engagements GROUP BY 1, 2 ORDER BY 1, 2"
        )
        providers = await self.conn.fetch(
            "SELECT provider->>'provider_id' AS provider_id, max(provider->>'name') AS name,"
            " count(*) FILTER (WHERE closed_at IS NULL) AS open, count(*) AS total"
            " FROM engagements GROUP BY 1 ORDER BY 3 DESC, 2"
        )
        first_contact = await self.conn.fetch(
            "SELECT tier, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_contact_at - opened_at))"
            " AS median_s, count(*) AS n FROM engagements WHERE first_contact_at IS NOT NULL GROUP BY 1 ORDER BY 1"
        )
        overdue = await self.conn.fetch(
            "SELECT engagement_id, tier, status, agency->>'name' AS agency, provider->>'name' AS provider,"
            " status_since AS since FROM engagements WHERE overdue ORDER BY status_since LIMIT 20"
        )
        latest = await self.conn.fetch(
            "SELECT a.id, a.engagement_id, a.at, a.actor, a.action, a.detail, e.tier, e.agency->>'name' AS agency"
            " FROM audit_trail a JOIN engagements e USING (engagement_id) ORDER BY a.id DESC LIMIT 12"
        )
        # The 20 oldest of each queue, and how many each holds.
        waiting = await self.conn.fetch(
            "SELECT * FROM (SELECT request_id, queue, request->'agency'->>'name' AS agency,"
            " request->'agency'->>'state' AS state, queued_since AS since, queue_reason AS reason,"
            " row_number() OVER (PARTITION BY queue ORDER BY queued_since) AS place,"
            " count(*) OVER (PARTITION BY queue) AS held FROM requests WHERE queue IS NOT NULL) q"
            " WHERE place <= 20 ORDER BY since"
        )
        held = {r["queue"]: r["held"] for r in waiting}
        weekly = await self.conn.fetch(
            "SELECT date_trunc('week', submitted_at AT TIME ZONE 'UTC')::date AS week, count(*) AS n FROM requests"
            " WHERE submitted_at >= $1 GROUP BY 1 ORDER BY 1",
            weeks_since,
        )
        return Portfolio(
            total=sum(r["n"] for r in by_tier_status),
            open_total=sum(r["n"] for r in by_tier_status if r["status"] != "closed"),
            overdue_total=await self.conn.fetchval("SELECT count(*) FROM engagements WHERE overdue"),
            by_tier_status=_all(TierStatusCount, by_tier_status),
            providers=_all(ProviderLoad, providers),
            first_contact=_all(FirstContactTime, first_contact),
            overdue=_all(OverdueEngagement, overdue),
            latest=_all(LatestChange, latest),
            review_total=held.get("review", 0),
            review=[WaitingRequest.model_validate(dict(r)) for r in waiting if r["queue"] == "review"],
            waiting_total=held.get("waiting", 0),
            waiting=[WaitingRequest.model_validate(dict(r)) for r in waiting if r["queue"] == "waiting"],
            weekly=_all(WeekCount, weekly),
        )

    async def add_recommendation(
        self, engagement_id: UUID, recommendation_id: UUID, text: str, status: str, by: str
    ) -> None:
        await self.conn.execute(
            "INSERT INTO recommendations (recommendation_id, engagement_id, text, status) VALUES ($1, $2, $3, $4)",
            recommendation_id,
            engagement_id,
            text,
            status,
        )
        await self.conn.execute(
            "INSERT INTO recommendation_history (recommendation_id, status, changed_by) VALUES ($1, $2, $3)",
            recommendation_id,
            status,
            by,
        )

    async def recommendation_status(self, engagement_id: UUID, recommendation_id: UUID) -> str | None:
        """The status of one of the engagement's recommendations; None when it has no such recommendation."""
        return await self.conn.fetchval(
            "SELECT status FROM recommendations WHERE engagement_id = $1 AND recommendation_id = $2",
            engagement_id,
            recommendation_id,
        )

    async def change_recommendation(
        self, recommendation_id: UUID, current: str, new: str, by: str, note: str | None
    ) -> bool:
        """Move the recommendation from `current` to `new`; False when someone moved it first."""
        moved = await self.conn.fetchval(
            "UPDATE recommendations SET status = $3 WHERE recommendation_id = $1 AND status = $2 RETURNING true",
            recommendation_id,
            current,
            new,
        )
        if moved:
            await self.conn.execute(
                "INSERT INTO recommendation_history (recommendation_id, status, changed_by, note)"
                " VALUES ($1, $2, $3, $4)",
                recommendation_id,
                new,
                by,
                note,
            )
        return bool(moved)

    async def recommendations(self, engagement_id: UUID) -> list[Recommendation]:
        """The engagement's recommendations, oldest first, each with its status history."""
        records = await self.conn.fetch(
            "SELECT r.recommendation_id, r.text, r.status, r.created_at,"
            " jsonb_agg(jsonb_build_object('status', h.status, 'at', h.at, 'changed_by', h.changed_by, 'note', h.note)"
            "  ORDER BY h.id) AS history"
            " FROM recommendations r JOIN recommendation_history h USING (recommendation_id)"
            " WHERE r.engagement_id = $1 GROUP BY r.recommendation_id ORDER BY r.created_at, r.recommendation_id",
            engagement_id,
        )
        return _all(Recommendation, records)
