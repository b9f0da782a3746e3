"""Notify's HTTP API, version 1: the delivery log, to answer "was this person told, and if not, why?".

Staff and other systems (service) only: the log names recipients. See docs/security.md.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from services.notify import store
from services.notify.messages import Channel, Role
from shared.contract.requests import ShortText
from shared.runtime import auth
from shared.runtime.http import runtime_of

router = APIRouter(
    prefix="/v1",
    tags=["deliveries"],
    dependencies=[Depends(auth.require(auth.Role.STAFF, auth.Role.SERVICE))],
    responses={401: {"description": "No or unknown API key"}, 403: {"description": "Neither staff nor service"}},
)

Status = Literal["pending", "sent", "failed"]


class Delivery(BaseModel):
    """One notification to one recipient on one channel; its rendered text is never shown (it may be confidential)."""

    delivery_id: UUID
    request_id: UUID | None
    engagement_id: UUID | None
    cause_event_id: UUID
    cause_event_type: str = Field(examples=["RequestRouted"])
    kind: str = Field(examples=["assignment_provider"])
    role: Role
    channel: Channel
    recipient: str | None = Field(description="Email address or webhook URL; null when none was known.")
    status: Status
    attempts: int = Field(description="Sends tried so far (a send in progress counts).")
    last_error: str | None = Field(description="Why the last attempt failed, or why the delivery was given up.")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    finished_at: datetime | None


@router.get("/deliveries", response_model=list[Delivery])
async def list_deliveries(
    request: Request,
    request_id: UUID | None = None,
    recipient: Annotated[ShortText | None, Query(description="Email address or webhook URL, any case.")] = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[Delivery]:
    """Deliveries, newest first, filtered by request, recipient address and status."""
    async with runtime_of(request).pool.acquire() as conn:
        rows = await store.list_deliveries(conn, request_id=request_id, recipient=recipient, status=status, limit=limit)
    return [_delivery(row) for row in rows]


@router.get("/deliveries/{delivery_id}", response_model=Delivery, responses={404: {"description": "Unknown delivery"}})
async def get_delivery(delivery_id: UUID, request: Request) -> Delivery:
    """One delivery: where it stands, how many attempts, the last error."""
    async with runtime_of(request).pool.acquire() as conn:
        row = await store.get_delivery(conn, delivery_id)
    if row is None:
        raise HTTPException(404, detail=f"no delivery {delivery_id}")
    return _delivery(row)


def _delivery(row: asyncpg.Record) -> Delivery:
    found = dict(row)
    if found["status"] != "pending":
        found["next_attempt_at"] = None  # only meaningful while the delivery waits
    return Delivery.model_validate(found)
