"""Staff triage, as pages for program staff: the queue of requests in review or waiting for a place, each request
with its decision record and the form that assigns it, and the provider registry with each provider's load.

Signed-in staff only (people sign in on intake's pages; anyone else gets the 403 page). The assignment form runs
the same command as `POST /v1/requests/{id}/assignment`, in the signed-in staff member's name. It carries the
length of the history the page showed: a request decided again meanwhile (by the queue, by another staff
member) or whose engagement opened gets its page as it is now, saying so (409), never a raw refusal.
"""

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from services.routing import commands, store
from services.routing.api import Assignment
from services.routing.commands import EngagementStarted, RequestChanged, UnknownRequest
from services.routing.domain import triage
from services.routing.domain.override import InvalidAssignment, NoRoom
from shared.contract.vocabulary import Tier
from shared.runtime.auth import Role
from shared.runtime.http import runtime_of
from shared.runtime.outbox import unit_of_work
from shared.runtime.web.forms import field_errors, read_form
from shared.runtime.web.pages import Web, web_of
from shared.runtime.web.session import Person, signed_in

router = APIRouter(tags=["pages"], include_in_schema=False)
Staff = Annotated[Person, Depends(signed_in(Role.STAFF))]

# What the form asks for when a field is left empty; pydantic's own words for the rest (a reason too long...).
_ASK = {
    "tier": "Choose the tier.",
    "provider_id": "Choose the provider.",
    "reason": "Say why: the reason is kept in the decision history.",
}
_NO_ROOM = (
    "This provider has no room left. Choose another, or tick “Assign even if the provider is full” to assign"
    " beyond its capacity (the history records it)."
)


def install(app: FastAPI, web: Web) -> None:
    """Serve the staff pages on `app` with `web` (its layout, session lookup and error pages), and give the
    templates their words."""
    web.install(app)
    app.include_router(router)
    web.env.filters.update(
        words=triage.words,
        rule=triage.rule_in_words,
        sentence=triage.sentence,
        load=triage.load_in_words,
        moment=_moment,
    )
    web.env.globals.update(waited=triage.waited, tier_options=triage.TIER_OPTIONS)


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/triage", status.HTTP_303_SEE_OTHER)


@router.get("/triage")
async def queue(
    request: Request, person: Staff, assigned: Annotated[UUID | None, Query(description="just assigned")] = None
) -> Response:
    """Requests in review and requests waiting for a place, most urgent first, then oldest."""
    async with runtime_of(request).pool.acquire() as conn:
        waiting = await store.waiting_for_staff(conn)
        done = await store.submitted_request(conn, assigned) if assigned else None
        names = {load.record.provider_id: load.record.name for load in await store.registry(conn)}
    queued = [item for item in waiting if item.outcome == "queued"]
    return await web_of(request).render(
        request,
        "triage.html",
        review=[item for item in waiting if item.outcome == "needs_review"],
        queued=queued,
        queued_by_tier=Counter(item.tier for item in queued),
        done=done,
        names=names,
        now=datetime.now(UTC),
    )


@router.get("/triage/requests/{request_id}")
async def request_page(request_id: UUID, request: Request, person: Staff) -> Response:
    return await _request_page(request, request_id)


@router.post("/triage/requests/{request_id}/assignment")
async def assign(request_id: UUID, request: Request, person: Staff) -> Response:
    """Assign the request to the tier and provider chosen, in the signed-in staff member's name."""
    form = await read_form(request)
    web_of(request).check_form(request, form)
    values = {name: str(form.get(name, "")) for name in ("tier", "provider_id", "reason", "force")}
    try:
        choice = Assignment.model_validate(
            {name: value for name, value in values.items() if value and (name != "force" or value == "yes")}
        )
    except ValidationError as exc:
        errors = {
            field: message if values.get(field) else _ASK.get(field, message)
            for field, message in field_errors(exc).items()
        }
        return await _request_page(request, request_id, status.HTTP_422_UNPROCESSABLE_CONTENT, values, errors)
    seen = str(form.get("decisions_seen", ""))
    try:
        async with unit_of_work(runtime_of(request).pool) as uow:
            await commands.reassign(
                uow,
                request_id,
                choice.tier,
                choice.provider_id,
                staff_member=person.subject,
                reason=choice.reason,
                force=choice.force,
                policy=request.app.state.policy,
                decisions_seen=int(seen) if seen.isdecimal() else -1,
            )
    except UnknownRequest:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Routing has no such request (or it was withdrawn).") from None
    except NoRoom:
        return await _request_page(request, request_id, status.HTTP_409_CONFLICT, values, {"provider_id": _NO_ROOM})
    except InvalidAssignment as exc:
        errors = {"provider_id": f"{str(exc)[0].upper()}{str(exc)[1:]}."}
        return await _request_page(request, request_id, status.HTTP_422_UNPROCESSABLE_CONTENT, values, errors)
    except (RequestChanged, EngagementStarted):
        return await _request_page(request, request_id, status.HTTP_409_CONFLICT, values, changed=True)
    return RedirectResponse(f"/triage?assigned={request_id}", status.HTTP_303_SEE_OTHER)


@router.get("/providers")
async def registry(request: Request, person: Staff) -> Response:
    """Each provider's expertise, the agencies it serves best, its load against capacity, and its tier's queue."""
    async with runtime_of(request).pool.acquire() as conn:
        loads = await store.registry(conn)
        waiting = await store.waiting_for_staff(conn)
    today = datetime.now(UTC).date()
    return await web_of(request).render(
        request,
        "providers.html",
        by_tier={tier: [load for load in loads if load.record.tier == tier] for tier in Tier},
        queued_by_tier=Counter(item.tier for item in waiting if item.outcome == "queued"),
        today=today,
    )


async def _request_page(
    request: Request,
    request_id: UUID,
    status_code: int = status.HTTP_200_OK,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    *,
    changed: bool = False,
) -> Response:
    """The request, its decision record and history, and the assignment form (with what was entered, and the
    problems with it)."""
    async with runtime_of(request).pool.acquire() as conn:
        found = await store.submitted_request(conn, request_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Routing has no request with this id.")
        history = await store.decisions_of(conn, request_id)
        loads = await store.registry(conn)
        engaged = await store.has_engagement(conn, request_id)
    contact = await request.app.state.intake.contact_of(request_id)
    today = datetime.now(UTC).date()
    return await web_of(request).render(
        request,
        "request.html",
        status_code=status_code,
        r=found,
        contact=contact,
        history=history,
        names={load.record.provider_id: load.record.name for load in loads},
        choices=triage.provider_choices(loads, today),
        engaged=engaged,
        values=values or {"tier": found.tier or "", "provider_id": "", "reason": "", "force": ""},
        errors=errors or {},
        changed=changed,
        now=datetime.now(UTC),
    )


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")
