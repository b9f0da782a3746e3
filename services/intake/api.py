"""Intake's HTTP API, version 1: submit a request for assistance, read its status. Each route maps the call to
a command or a read, and the command's exceptions to status codes.

Agencies submit and read only their own requests (their key's subject is their agency key); other systems
(service) and staff submit and read any. See docs/security.md.
"""

import json
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.intake.commands import IdempotencyConflict, ensure_acts_for
from services.intake.domain.submissions import MAX_KEY_CHARS, agency_key
from services.intake.group_commit import GroupCommit, NotRecorded
from services.intake.settings import IntakeSettings
from services.intake.store import PostgresStore
from shared.contract.requests import Contact, RequestForAssistance
from shared.contract.validation import error_message
from shared.runtime.auth import Principal, Role, require
from shared.runtime.http import runtime_of

router = APIRouter(
    prefix="/v1",
    tags=["requests"],
    responses={
        401: {"description": "No or unknown API key"},
        403: {"description": "Another agency's request, or a role that may not do this"},
    },
)


class Accepted(BaseModel):
    request_id: UUID
    status_url: str
    replayed: bool = Field(description="True when this answers an earlier identical submission.")


class TimelineEntry(BaseModel):
    at: datetime
    status: str
    detail: dict


class RequestStatus(BaseModel):
    request_id: UUID
    status: str = Field(examples=["routed"])
    agency_name: str
    channel: str
    submitted_at: datetime
    updated_at: datetime
    tier: str | None
    provider_id: str | None
    provider_name: str | None
    engagement_id: UUID | None
    timeline: list[TimelineEntry]


@router.post(
    "/requests",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={
        409: {"description": "Idempotency key reused with a different body"},
        503: {"description": "The database is unavailable: nothing was recorded; send it again later"},
        413: {"description": "Body larger than the limit (64 KiB by default, `CRI_MAX_BODY_BYTES`)"},
        415: {"description": "Content-Type other than application/json"},
    },
)
async def submit_request(
    body: RequestForAssistance,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(Role.AGENCY, Role.SERVICE, Role.STAFF))],
    idempotency_key: Annotated[str | None, Header(max_length=MAX_KEY_CHARS)] = None,
) -> Accepted:
    """Accept a request for assistance. It is recorded with its RequestReceived and RequestContactGiven events in
    one transaction (shared with the submissions that arrived with it), and answered once committed."""
    ensure_acts_for(principal, agency_key(body.agency), "an agency submits requests for itself only")
    settings: IntakeSettings = runtime_of(request).settings  # type: ignore[assignment]
    group_commit: GroupCommit = request.app.state.group_commit
    try:
        acceptance = await group_commit.submit(body, idempotency_key)
    except IdempotencyConflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="Idempotency-Key was already used with a different request body"
        ) from None
    except NotRecorded:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the request could not be recorded now; send it again (with the same Idempotency-Key)",
            headers={"Retry-After": "1"},
        ) from None
    status_url = f"{settings.public_base_url}/v1/requests/{acceptance.request_id}"
    response.headers["Location"] = status_url
    if acceptance.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return Accepted(request_id=acceptance.request_id, status_url=status_url, replayed=acceptance.replayed)


@router.get("/requests/{request_id}", response_model=RequestStatus, responses={404: {"description": "Unknown request"}})
async def get_request_status(
    request_id: UUID,
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.AGENCY, Role.STAFF, Role.SERVICE))],
) -> RequestStatus:
    """Where a request is: submitted, routed (tier and provider), engagement opened, milestones, closed."""
    async with runtime_of(request).pool.acquire() as conn:
        found = await PostgresStore(conn).load_status(request_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no request {request_id}")
    ensure_acts_for(principal, found.agency_key, "another agency's request")
    return RequestStatus.model_validate(found, from_attributes=True)


@router.get(
    "/requests/{request_id}/contact", response_model=Contact, responses={404: {"description": "Unknown request"}}
)
async def get_request_contact(
    request_id: UUID,
    request: Request,
    principal: Annotated[Principal, Depends(require(Role.AGENCY, Role.STAFF, Role.SERVICE))],
) -> Contact:
    """The contact person of a request. Only engagements and notify receive it on Kafka; program staff's pages in
    routing, which decides without it, read it here when a staff member opens the request."""
    async with runtime_of(request).pool.acquire() as conn:
        found = await PostgresStore(conn).contact_of(request_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no request {request_id}")
    agency, contact = found
    ensure_acts_for(principal, agency, "another agency's request")
    return contact


async def not_yours(_request: Request, exc: Exception) -> Response:
    """403: a known caller acting for another agency."""
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_403_FORBIDDEN)


async def validation_failed(_request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422 shape without echoing the input: a NaN or an unpaired surrogate in it could not be rendered
    as JSON, and the caller knows what it sent. Messages read as the inbound topic's rejections do."""
    errors = [
        {**{k: v for k, v in error.items() if k != "input"}, "msg": error_message(error)} for error in exc.errors()
    ]
    return Response(
        json.dumps({"detail": jsonable_encoder(errors)}),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        media_type="application/json",
    )
