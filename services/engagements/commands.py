"""What staff and providers do to an engagement: record a milestone, escalate it, close it. Each command loads
the engagement, lets the lifecycle decide, and writes the change, its audit entry, its deadline and its events
(with a fresh snapshot) in the caller's unit of work. Optimistic concurrency: a change applies only to the
version the caller last saw."""

from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from services.engagements import store
from services.engagements.domain import lifecycle
from services.engagements.domain.deadlines import DeadlineClock
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import (
    AgencySummary,
    EngagementClosed,
    EngagementEscalated,
    EngagementStatusChanged,
    MilestoneReached,
    ProviderRef,
)
from shared.contract.vocabulary import Tier
from shared.runtime.outbox import UnitOfWork

SOURCE = "engagements"


class EngagementNotFound(LookupError):
    pass


class StaleVersion(Exception):
    """Someone changed the engagement since the caller read it."""

    def __init__(self, expected: int) -> None:
        super().__init__(f"the engagement is no longer at version {expected}: reload it and try again")


async def record_milestone(
    uow: UnitOfWork,
    clock: DeadlineClock,
    engagement_id: UUID,
    *,
    milestone: str,
    detail: str | None,
    note: str | None,
    recorded_by: str,
    expected_version: int,
) -> asyncpg.Record:
    row = await _load(uow.conn, engagement_id, expected_version)
    tier, before = Tier(row["tier"]), row["status"]
    after = lifecycle.record_milestone(tier, before, milestone, detail=detail)
    now = datetime.now(UTC)
    entry = {"milestone": milestone, "at": now.isoformat(), "detail": detail, "note": note, "recorded_by": recorded_by}
    first_contact = milestone == lifecycle.first_contact_milestone(tier)
    updated = await store.record_milestone(
        uow.conn, engagement_id, expected_version, status=after, entry=entry, at=now, first_contact=first_contact
    )
    updated = _applied(updated, expected_version)
    await store.audit(
        uow.conn, engagement_id, recorded_by, "milestone", {"milestone": milestone, "detail": detail}, note
    )
    await store.set_deadline(uow.conn, engagement_id, clock.next(tier, after, now))
    events: list[EventData] = [
        MilestoneReached(
            engagement_id=engagement_id,
            request_id=row["request_id"],
            tier=tier,
            milestone=milestone,
            reached_at=now,
            note=note,
            recorded_by=recorded_by,
        )
    ]
    if after != before:
        events.append(_status_changed(row, before, after, now))
    publish(uow, updated, events)
    return updated


async def close(
    uow: UnitOfWork, engagement_id: UUID, *, outcome: str, note: str, closed_by: str, expected_version: int
) -> asyncpg.Record:
    row = await _load(uow.conn, engagement_id, expected_version)
    after = lifecycle.close(Tier(row["tier"]), row["status"], outcome)
    updated = await _close(uow, row, after, outcome, expected_version)
    await store.audit(uow.conn, engagement_id, closed_by, "closed", {"outcome": outcome}, note)
    publish(uow, updated, _closing_events(row, after, outcome, updated["closed_at"]))
    return updated


async def escalate(
    uow: UnitOfWork, engagement_id: UUID, *, to_tier: Tier, reason: str, escalated_by: str, expected_version: int
) -> asyncpg.Record:
    """Close the engagement as escalated; routing assigns the new tier's provider and the engagement it opens
    links back here (escalated_from)."""
    row = await _load(uow.conn, engagement_id, expected_version)
    tier = Tier(row["tier"])
    after = lifecycle.escalate(tier, row["status"], to_tier)
    outcome = lifecycle.Outcome.ESCALATED
    updated = await _close(uow, row, after, outcome, expected_version)
    await store.audit(
        uow.conn, engagement_id, escalated_by, "escalated", {"from_tier": tier, "to_tier": to_tier}, reason
    )
    escalated = EngagementEscalated(
        engagement_id=engagement_id,
        request_id=row["request_id"],
        from_tier=tier,
        to_tier=to_tier,
        reason=reason,
        escalated_by=escalated_by,
        agency=AgencySummary.model_validate(row["agency"]),
        urgency=row["urgency"],
        escalated_at=updated["closed_at"],
    )
    # Escalated last: it is the request's latest news (intake shows it), after the close that frees capacity.
    publish(uow, updated, [*_closing_events(row, after, outcome, updated["closed_at"]), escalated])
    return updated


async def _load(conn: asyncpg.Connection, engagement_id: UUID, expected_version: int) -> asyncpg.Record:
    row = await store.load(conn, engagement_id)
    if row is None:
        raise EngagementNotFound(f"no engagement {engagement_id}")
    if row["version"] != expected_version:
        raise StaleVersion(expected_version)
    return row


def _applied(updated: asyncpg.Record | None, expected_version: int) -> asyncpg.Record:
    """The updated row; None means a concurrent change won the race between our read and our update."""
    if updated is None:
        raise StaleVersion(expected_version)
    return updated


async def _close(
    uow: UnitOfWork, row: asyncpg.Record, status: str, outcome: str, expected_version: int
) -> asyncpg.Record:
    engagement_id = row["engagement_id"]
    updated = await store.close(
        uow.conn, engagement_id, expected_version, status=status, outcome=outcome, at=datetime.now(UTC)
    )
    updated = _applied(updated, expected_version)
    await store.set_deadline(uow.conn, engagement_id, None)
    return updated


def _closing_events(row: asyncpg.Record, after: str, outcome: str, at: datetime) -> list[EventData]:
    closed = EngagementClosed(
        engagement_id=row["engagement_id"],
        request_id=row["request_id"],
        tier=row["tier"],
        provider=ProviderRef.model_validate(row["provider"]),
        outcome=outcome,
        closed_at=at,
    )
    return [_status_changed(row, row["status"], after, at), closed]


def _status_changed(row: asyncpg.Record, before: str, after: str, at: datetime) -> EngagementStatusChanged:
    return EngagementStatusChanged(
        engagement_id=row["engagement_id"],
        request_id=row["request_id"],
        from_status=before,
        to_status=after,
        changed_at=at,
    )


def publish(uow: UnitOfWork, row: asyncpg.Record, events: list[EventData]) -> None:
    """Publish `events` of an engagement and its fresh snapshot, all under the request's correlation id."""
    for event in [*events, store.snapshot(row)]:
        uow.publish(Envelope.wrap(event, source=SOURCE, correlation_id=row["correlation_id"]))
