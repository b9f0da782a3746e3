"""Routing's staff API, version 1: override a routing decision, read a request's decision history, the registry.

Every route needs a staff key (`Authorization: Bearer <key>`, shared/runtime/auth.py): decisions name agencies,
incidents' handling and staff's reasons. The registry's read (capacity and load, no agency) also admits a service
key: engagements' dashboard reads it to show load against capacity.
"""

from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.routing import commands, store
from services.routing.commands import EngagementStarted, UnknownRequest
from services.routing.domain.override import InvalidAssignment, NoRoom
from shared.contract.requests import LongText, ShortText
from shared.contract.vocabulary import Tier
from shared.runtime.auth import Principal, Role, require
from shared.runtime.http import runtime_of
from shared.runtime.outbox import unit_of_work

router = APIRouter(
    prefix="/v1",
    tags=["staff"],
    responses={401: {"description": "No or unknown API key"}, 403: {"description": "Not a staff key"}},
)
_STAFF = [Depends(require(Role.STAFF))]


class Assignment(BaseModel):
    # A body that names who decides is refused: the decision is always in the caller's name.
    model_config = ConfigDict(extra="forbid")

    tier: Tier
    provider_id: ShortText = Field(examples=["iacp"])
    reason: LongText = Field(description="Why staff decide otherwise than the policy; kept in the history.")
    force: bool = Field(default=False, description="Assign even when the provider has no room left.")


class DecisionView(BaseModel):
    decided_at: datetime
    decided_by: str = Field(examples=["policy", "staff"])
    staff_member: str | None = Field(description="Who decided: the signed-in staff member or the staff key's subject.")
    reason: str | None
    outcome: str = Field(examples=["routed", "queued", "needs_review"])
    tier: str | None
    provider_id: str | None
    policy_version: str | None
    rules_fired: list[str]
    candidates: list[dict[str, Any]] = Field(description="Providers scored by the policy, best first.")
    review_reasons: list[str]


class DecisionHistory(BaseModel):
    request_id: UUID
    decisions: list[DecisionView] = Field(description="Oldest first; an override never erases what it overrode.")


class ProviderView(BaseModel):
    provider_id: str
    name: str
    tier: Tier
    active: int = Field(description="Engagements reserved or open now.")
    capacity: int
    assigned_total: int
    partner_today: bool
    valid_from: date
    valid_to: date | None


_REFUSALS = {
    UnknownRequest: status.HTTP_404_NOT_FOUND,
    InvalidAssignment: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NoRoom: status.HTTP_409_CONFLICT,
    EngagementStarted: status.HTTP_409_CONFLICT,
}


@router.post(
    "/requests/{request_id}/assignment",
    dependencies=_STAFF,
    response_model=DecisionView,
    responses={
        404: {"description": "Unknown request"},
        409: {"description": "The provider has no room (send force), or the request already has an engagement"},
        422: {"description": "Unknown provider, provider of another tier, or not a partner today"},
    },
)
async def assign(
    request_id: UUID, body: Assignment, request: Request, staff: Annotated[Principal, Depends(require(Role.STAFF))]
) -> DecisionView:
    """Put a request with a tier and provider by hand, in the name of the key's staff member. The place moves with
    it, the decision joins the history (decided_by staff) and RequestRouted is published, all in one
    transaction."""
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime.pool) as uow:
            await commands.reassign(
                uow,
                request_id,
                body.tier,
                body.provider_id,
                staff_member=staff.subject,
                reason=body.reason,
                force=body.force,
                policy=request.app.state.policy,
            )
            rows = await store.decisions_of(uow.conn, request_id)
    except tuple(_REFUSALS) as exc:
        raise HTTPException(_REFUSALS[type(exc)], detail=str(exc)) from None
    return DecisionView.model_validate(rows[-1], from_attributes=True)


@router.get(
    "/requests/{request_id}/decisions",
    dependencies=_STAFF,
    response_model=DecisionHistory,
    responses={404: {"description": "Unknown request"}},
)
async def decision_history(request_id: UUID, request: Request) -> DecisionHistory:
    """Every decision about a request: outcome, tier, provider, rules fired, candidates scored, who and why."""
    async with runtime_of(request).pool.acquire() as conn:
        rows = await store.decisions_of(conn, request_id)
        if not rows and not await store.request_exists(conn, request_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no request {request_id}")
    decisions = [DecisionView.model_validate(row, from_attributes=True) for row in rows]
    return DecisionHistory(request_id=request_id, decisions=decisions)


@router.get(
    "/providers",
    response_model=list[ProviderView],
    dependencies=[Depends(require(Role.STAFF, Role.SERVICE))],
    responses={403: {"description": "Neither a staff nor a service key"}},
)
async def providers(request: Request) -> list[ProviderView]:
    """The provider registry with each provider's load now."""
    async with runtime_of(request).pool.acquire() as conn:
        loads = await store.registry(conn)
    today = datetime.now(UTC).date()
    return [
        ProviderView(
            provider_id=load.record.provider_id,
            name=load.record.name,
            tier=load.record.tier,
            active=load.active,
            capacity=load.record.capacity,
            assigned_total=load.assigned_total,
            partner_today=load.record.active_on(today),
            valid_from=load.record.valid_from,
            valid_to=load.record.valid_to,
        )
        for load in loads
    ]
