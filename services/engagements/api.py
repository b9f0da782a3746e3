"""Engagements' HTTP API, version 1: list and read engagements, record milestones, escalate, close.

Staff and other systems (service) read every engagement; a provider reads and moves only its own (403 for
another's). Staff alone escalate. Every change is recorded in the name of the caller's key (its principal); a
body carries at most a note. See docs/security.md.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.engagements import commands
from services.engagements.domain import lifecycle
from services.engagements.domain.deadlines import DeadlineClock
from services.engagements.domain.recommendations import RecommendationStatus
from services.engagements.store import AuditEntry, Deadline, EngagementRow, Filters, PostgresStore, Recommendation
from shared.contract.events import AgencySummary, ProviderRef
from shared.contract.requests import LongText, ShortText
from shared.contract.vocabulary import Tier
from shared.runtime.auth import Principal, Role, forbidden, require
from shared.runtime.http import runtime_of
from shared.runtime.outbox import unit_of_work

router = APIRouter(
    prefix="/v1",
    tags=["engagements"],
    responses={
        401: {"description": "No or unknown API key"},
        403: {"description": "Another provider's engagement, or a role that may not do this"},
    },
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown engagement"},
    409: {"description": "Refused by the lifecycle (reason and what is allowed), or a stale expected_version"},
}


def _engagement_access(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """`require(*roles)`, and a provider only for an engagement of its own (an unknown one is the route's 404)."""
    admitted = require(*roles)

    async def access(
        engagement_id: UUID, request: Request, principal: Annotated[Principal, Depends(admitted)]
    ) -> Principal:
        if principal.role is Role.PROVIDER:
            async with runtime_of(request).pool.acquire() as conn:
                row = await PostgresStore(conn).load(engagement_id)
            if row is not None and row.provider.provider_id != principal.subject:
                raise forbidden("another provider's engagement")
        return principal

    return access


_READERS = [Depends(_engagement_access(Role.STAFF, Role.SERVICE, Role.PROVIDER))]
# Who acts: a provider on its own engagements, or staff; the change is recorded in this principal's name.
Actor = Annotated[Principal, Depends(_engagement_access(Role.PROVIDER, Role.STAFF))]


class _Command(BaseModel):
    # A body that names who acted is refused (422): the change is always in the caller's name.
    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(ge=1, description="The version you read; the change applies only to it.")


class RecordMilestone(_Command):
    milestone: ShortText = Field(examples=["scoping"])
    detail: LongText | None = Field(default=None, description="Kind of assistance, or the agency's closeout feedback.")
    note: LongText | None = None


class Escalation(_Command):
    to_tier: Tier
    reason: LongText


class ClosingOutcome(StrEnum):
    """Escalation is not closed here but through /escalation, which names the next tier."""

    COMPLETED = lifecycle.Outcome.COMPLETED.value
    WITHDRAWN = lifecycle.Outcome.WITHDRAWN.value
    DECLINED = lifecycle.Outcome.DECLINED.value


class Closure(_Command):
    outcome: ClosingOutcome
    note: LongText


class NewRecommendation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: LongText = Field(examples=["Adopt a written de-escalation policy"])


class RecommendationChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: RecommendationStatus
    note: LongText | None = None


class Engagement(BaseModel):
    engagement_id: UUID
    request_id: UUID
    tier: Tier
    status: str
    provider: ProviderRef
    agency: AgencySummary
    urgency: str
    opened_at: datetime
    status_since: datetime
    first_contact_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    escalated_from: UUID | None
    overdue: bool
    version: int
    allowed_next: list[str] = Field(description="Milestones that may be recorded now.")
    allowed_outcomes: list[str] = Field(description="Outcomes it may be closed with now.")

    @classmethod
    def of(cls, row: EngagementRow) -> "Engagement":
        return cls.model_validate(
            {
                **dict(row),
                "allowed_next": lifecycle.allowed_next(row.tier, row.status),
                "allowed_outcomes": lifecycle.allowed_outcomes(row.tier, row.status),
            }
        )


class EngagementTimeline(Engagement):
    milestones: list[dict[str, Any]]
    audit_trail: list[AuditEntry]
    next_deadline: Deadline | None


class Page(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[Engagement]


@router.get("/engagements", response_model=Page)
async def list_engagements(
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.STAFF, Role.SERVICE, Role.PROVIDER))],
    tier: Tier | None = None,
    status_: Annotated[ShortText | None, Query(alias="status")] = None,
    provider_id: Annotated[ShortText | None, Query()] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page:
    """Engagements, newest first, filtered by tier, status, provider and overdue (a provider sees its own)."""
    if principal.role is Role.PROVIDER:
        if provider_id not in (None, principal.subject):
            raise forbidden("another provider's engagements")
        provider_id = principal.subject
    filters = Filters(tier and tier.value, status_, provider_id, overdue)
    async with runtime_of(request).pool.acquire() as conn:
        rows, total = await PostgresStore(conn).list_engagements(filters, limit, offset)
    return Page(total=total, limit=limit, offset=offset, items=[Engagement.of(row) for row in rows])


@router.get("/engagements/{engagement_id}", response_model=EngagementTimeline, responses=_ERRORS, dependencies=_READERS)
async def get_engagement(engagement_id: UUID, request: Request) -> EngagementTimeline:
    """One engagement with its timeline: milestones, audit trail, next deadline."""
    async with runtime_of(request).pool.acquire() as conn:
        db = PostgresStore(conn)
        row = await db.load(engagement_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no engagement {engagement_id}")
        trail = await db.audit_trail(engagement_id)
        deadline = await db.pending_deadline(engagement_id)
    return EngagementTimeline(
        **dict(Engagement.of(row)), milestones=row.milestones, audit_trail=trail, next_deadline=deadline
    )


@router.post("/engagements/{engagement_id}/milestones", response_model=Engagement, responses=_ERRORS)
async def record_milestone(engagement_id: UUID, body: RecordMilestone, request: Request, actor: Actor) -> Engagement:
    """Record the next milestone or a progress update (MilestoneReached, EngagementStatusChanged, snapshot)."""
    clock: DeadlineClock = request.app.state.deadline_clock
    fields = body.model_dump()
    return await _change(
        request,
        lambda db, outbox: commands.record_milestone(db, outbox, clock, engagement_id, actor=actor.actor, **fields),
    )


@router.post(
    "/engagements/{engagement_id}/escalation",
    response_model=Engagement,
    responses=_ERRORS,
)
async def escalate(
    engagement_id: UUID,
    body: Escalation,
    request: Request,
    staff: Annotated[Principal, Depends(require(Role.STAFF))],
) -> Engagement:
    """Close as escalated and publish EngagementEscalated; routing opens the next tier's engagement."""
    fields = body.model_dump()
    return await _change(
        request, lambda db, outbox: commands.escalate(db, outbox, engagement_id, actor=staff.actor, **fields)
    )


@router.post("/engagements/{engagement_id}/closure", response_model=Engagement, responses=_ERRORS)
async def close(engagement_id: UUID, body: Closure, request: Request, actor: Actor) -> Engagement:
    """Close with an outcome (EngagementStatusChanged, EngagementClosed, snapshot)."""
    fields = body.model_dump(mode="json")
    return await _change(
        request, lambda db, outbox: commands.close(db, outbox, engagement_id, actor=actor.actor, **fields)
    )


@router.get(
    "/engagements/{engagement_id}/recommendations",
    response_model=list[Recommendation],
    responses=_ERRORS,
    dependencies=_READERS,
)
async def list_recommendations(engagement_id: UUID, request: Request) -> list[Recommendation]:
    """An assessment's recommendations, oldest first, each with its status history."""
    async with runtime_of(request).pool.acquire() as conn:
        db = PostgresStore(conn)
        if await db.load(engagement_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no engagement {engagement_id}")
        return await db.recommendations(engagement_id)


@router.post(
    "/engagements/{engagement_id}/recommendations",
    response_model=Recommendation,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
)
async def add_recommendation(
    engagement_id: UUID, body: NewRecommendation, request: Request, actor: Actor
) -> Recommendation:
    """Propose a recommendation (assessments in findings_and_recommendations or implementation_monitoring)."""
    async with _refusals(), unit_of_work(runtime_of(request).pool) as uow:
        added = await commands.add_recommendation(
            PostgresStore(uow.conn), engagement_id, actor=actor.actor, **body.model_dump()
        )
    return await _recommendation(request, engagement_id, added)


@router.patch(
    "/engagements/{engagement_id}/recommendations/{recommendation_id}",
    response_model=Recommendation,
    responses=_ERRORS,
)
async def change_recommendation(
    engagement_id: UUID, recommendation_id: UUID, body: RecommendationChange, request: Request, actor: Actor
) -> Recommendation:
    """Move a recommendation to its next status (accepted, in_progress, implemented, not_implemented, withdrawn)."""
    async with _refusals(), unit_of_work(runtime_of(request).pool) as uow:
        await commands.change_recommendation(
            PostgresStore(uow.conn), engagement_id, recommendation_id, actor=actor.actor, **body.model_dump()
        )
    return await _recommendation(request, engagement_id, recommendation_id)


async def _recommendation(request: Request, engagement_id: UUID, recommendation_id: UUID) -> Recommendation:
    async with runtime_of(request).pool.acquire() as conn:
        found = await PostgresStore(conn).recommendations(engagement_id)
    return next(r for r in found if r.recommendation_id == recommendation_id)


async def _change(
    request: Request, command: Callable[[commands.Store, commands.Outbox], Awaitable[EngagementRow]]
) -> Engagement:
    async with _refusals(), unit_of_work(runtime_of(request).pool) as uow:
        row = await command(PostgresStore(uow.conn), uow)
    return Engagement.of(row)


@asynccontextmanager
async def _refusals() -> AsyncIterator[None]:
    """Command refusals as HTTP answers; the transaction they abort leaves nothing behind."""
    try:
        yield
    except (commands.EngagementNotFound, commands.RecommendationNotFound) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except lifecycle.InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail={"reason": exc.reason, "allowed": exc.allowed}) from None
    except commands.StaleVersion as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail={"reason": str(exc), "allowed": []}) from None
