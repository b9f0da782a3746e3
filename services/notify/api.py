"""Notify's HTTP API, version 1: the delivery log, to answer "was this person told, and if not, why?".

Staff and other systems (service) only: the log names recipients. See docs/security.md.
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from services.notify import store
from services.notify.domain.deliveries import Delivery, Status
from shared.contract.requests import ShortText
from shared.runtime import auth
from shared.runtime.http import runtime_of

router = APIRouter(
    prefix="/v1",
    tags=["deliveries"],
    dependencies=[Depends(auth.require(auth.Role.STAFF, auth.Role.SERVICE))],
    responses={401: {"description": "No or unknown API key"}, 403: {"description": "Neither staff nor service"}},
)


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
        return await store.list_deliveries(conn, request_id=request_id, recipient=recipient, status=status, limit=limit)


@router.get("/deliveries/{delivery_id}", response_model=Delivery, responses={404: {"description": "Unknown delivery"}})
async def get_delivery(delivery_id: UUID, request: Request) -> Delivery:
    """One delivery: where it stands, how many attempts, the last error."""
    async with runtime_of(request).pool.acquire() as conn:
        delivery = await store.get_delivery(conn, delivery_id)
    if delivery is None:
        raise HTTPException(404, detail=f"no delivery {delivery_id}")
    return delivery
