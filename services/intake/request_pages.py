"""Intake's pages for agencies (docs/intake.md, "Pages for agencies"): the public request form at `/`, a form's
request sent by its emailed link, "my requests" with each request's timeline and an assessment's
recommendations, and withdrawing a request. Thin: read the form, call a command in a unit of work, render its
answer or the refusal's page. Sign-in has its own module (`sign_in`)."""

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from services.intake import commands
from services.intake.domain import agency_requests, request_form
from services.intake.engagements import Engagements
from services.intake.settings import IntakeSettings
from services.intake.store import PostgresStore, StatusRow
from shared.contract.vocabulary import Tier
from shared.runtime.auth import Role
from shared.runtime.http import runtime_of
from shared.runtime.outbox import unit_of_work
from shared.runtime.web.forms import field_errors, read_form
from shared.runtime.web.pages import web_of
from shared.runtime.web.session import Person, current_person, signed_in
from shared.runtime.web.tokens import token_digest

router = APIRouter(include_in_schema=False)
AgencyPerson = Annotated[Person, Depends(signed_in(Role.AGENCY))]

_INPUT_TYPES = {"text": "text", "email": "email", "tel": "tel", "number": "text", "date": "date"}
_WIDTHS = {"number": "small", "date": "medium"}


@router.get("/")
async def request_form_page(request: Request) -> Response:
    return await _form(request, {}, request_form.FormErrors())


@router.post("/")
async def send_request(request: Request) -> Response:
    """A signed-in person's request for their own agency is accepted at once; any other is held until its
    contact confirms it by the emailed link."""
    web = web_of(request)
    form = await read_form(request)
    web.check_form(request, form)
    values = {name: form.getlist(name) for name in form}
    checked = request_form.validate(values)
    if isinstance(checked, request_form.FormErrors):
        return await _form(request, values, checked)
    settings = _settings(request)
    at_once = commands.acts_for_own_agency(await current_person(request), checked)
    try:
        async with unit_of_work(runtime_of(request).pool) as uow:
            store = PostgresStore(uow.conn)
            if at_once:
                accepted = await commands.submit_request(
                    store, uow, checked, "http", idempotency_key=None, key_ttl=settings.idempotency_key_ttl
                )
            else:
                expires_at = await commands.hold_submission(
                    store,
                    uow,
                    checked,
                    client=request.client.host if request.client else "unknown",
                    limits=settings.submission_limits,
                    confirm_url=lambda token: f"{settings.link_base}/requests/confirm/{token}",
                )
    except commands.TooManySubmissions:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many requests from this address or this network are waiting for their confirmation. Open the "
            "links we emailed, or try again later.",
        ) from None
    if at_once:
        return RedirectResponse(f"/requests/{accepted.request_id}/sent", status.HTTP_303_SEE_OTHER)
    hours = _hours(expires_at - datetime.now(expires_at.tzinfo))
    return await web.render(request, "request_pending.html", email=checked.contact.email, hours=hours)


@router.get("/requests/confirm/{token}")
async def check_and_send(token: str, request: Request) -> Response:
    """Opening the link shows the request with a button that sends it: mail scanners that follow links send
    nothing."""
    async with runtime_of(request).pool.acquire() as conn:
        pending = await PostgresStore(conn).pending(token_digest(token))
    if pending is None or pending.expires_at <= datetime.now(pending.expires_at.tzinfo):
        return await _link_expired(request)
    if pending.request_id is not None:
        return await _sent(request, pending.request_id, pending.request.contact.email)
    return await web_of(request).render(
        request, "request_confirm.html", answers=request_form.answers(pending.request), action=request.url.path
    )


@router.post("/requests/confirm/{token}")
async def confirm(token: str, request: Request) -> Response:
    web_of(request).check_form(request, await read_form(request))
    try:
        async with unit_of_work(runtime_of(request).pool) as uow:
            confirmed = await commands.confirm_submission(
                PostgresStore(uow.conn), uow, token, key_ttl=_settings(request).idempotency_key_ttl
            )
    except commands.LinkExpired:
        return await _link_expired(request)
    return await _sent(request, confirmed.request_id, confirmed.email)


# Request ids in these paths are read as text and parsed here: a malformed one is a 404 page, not the JSON API's 422.


@router.get("/requests/{request_id}/sent")
async def sent(request_id: str, request: Request, person: AgencyPerson) -> Response:
    found = await _agency_request(request, request_id, person)
    return await _sent(request, found.request_id, person.email)


@router.get("/my-requests")
async def my_requests(request: Request, person: AgencyPerson) -> Response:
    async with runtime_of(request).pool.acquire() as conn:
        rows = await PostgresStore(conn).agency_requests(person.subject)
    assessments = [r.engagement_id for r in rows if r.engagement_id and r.tier == Tier.ORGANIZATIONAL_ASSESSMENT]
    engagements: Engagements = request.app.state.engagements
    recommendations = await engagements.recommendations(assessments)
    withdrawn = request.query_params.get("withdrawn")
    return await web_of(request).render(
        request,
        "my_requests.html",
        requests=[_request_view(row, recommendations) for row in rows],
        notice=f"You withdrew the request {withdrawn}." if any(str(r.request_id) == withdrawn for r in rows) else None,
    )


@router.get("/my-requests/{request_id}/withdraw")
async def withdraw_page(request_id: str, request: Request, person: AgencyPerson) -> Response:
    found = await _agency_request(request, request_id, person)
    refusal = agency_requests.withdrawal_refused(found.status, found.engagement_id)
    if refusal is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, refusal)
    return await _withdraw_form(request, found, "", {})


@router.post("/my-requests/{request_id}/withdraw")
async def withdraw(request_id: str, request: Request, person: AgencyPerson) -> Response:
    form = await read_form(request)
    web_of(request).check_form(request, form)
    reason = str(form.get("reason", ""))
    try:
        async with unit_of_work(runtime_of(request).pool) as uow:
            await commands.withdraw_request(
                PostgresStore(uow.conn), uow, _id(request_id), person, email=person.email, reason=reason.strip() or None
            )
    except ValidationError as exc:
        found = await _agency_request(request, request_id, person)
        return await _withdraw_form(request, found, reason, field_errors(exc))
    except (commands.UnknownRequest, commands.NotYours):
        raise _no_such_request() from None
    except commands.NotWithdrawable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return RedirectResponse(f"/my-requests?withdrawn={request_id}", status.HTTP_303_SEE_OTHER)


async def _form(request: Request, values: dict[str, list[str]], errors: request_form.FormErrors) -> Response:
    summary = dict(errors.by_field)
    if errors.general:  # errors the form cannot place beside a field: linked to the form itself
        summary["request-form"] = " ".join(errors.general)
    return await web_of(request).render(
        request,
        "request_form.html",
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
        groups=request_form.GROUPS,
        values=values,
        errors=errors.by_field,
        summary=summary,
        input_types=_INPUT_TYPES,
        widths=_WIDTHS,
    )


async def _withdraw_form(request: Request, found: StatusRow, reason: str, errors: dict[str, str]) -> Response:
    return await web_of(request).render(
        request,
        "withdraw.html",
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
        request_id=found.request_id,
        submitted_on=_day(found.submitted_at),
        reason=reason,
        errors=errors,
    )


async def _sent(request: Request, request_id: UUID, email: str) -> Response:
    return await web_of(request).render(request, "request_sent.html", request_id=request_id, email=email)


async def _link_expired(request: Request) -> Response:
    return await web_of(request).render(
        request,
        "error.html",
        status_code=status.HTTP_410_GONE,
        title="This link has expired",
        message=f"A link to send a request works for {_hours(_settings(request).pending_submission_ttl)} hours. "
        "Fill in the form again to send your request: we email you a new link.",
    )


async def _agency_request(request: Request, request_id: str, person: Person) -> StatusRow:
    """The request when it is one of the person's agency; 404 otherwise (another agency's is not shown here)."""
    async with runtime_of(request).pool.acquire() as conn:
        found = await PostgresStore(conn).load_status(_id(request_id))
    if found is None or found.agency_key != person.subject:
        raise _no_such_request()
    return found


def _id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise _no_such_request() from None


def _no_such_request() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "Your agency has no request with this number.")


def _request_view(row: StatusRow, recommendations: dict[UUID, Any]) -> dict[str, Any]:
    help_words = agency_requests.TIERS.get(row.tier) if row.tier else None
    if help_words and row.provider_name:
        help_words += f", with {row.provider_name}"
    found = recommendations.get(row.engagement_id) if row.engagement_id else None
    return {
        "request_id": row.request_id,
        "agency_name": row.agency_name,
        "submitted_on": _day(row.submitted_at),
        "status": agency_requests.STATUSES.get(row.status, row.status),
        "help": help_words,
        "steps": [
            {
                "at": f"{_day(step.at)} at {step.at:%H:%M} UTC",
                "at_iso": step.at.isoformat(),
                "words": agency_requests.step_words(step.status, step.detail),
            }
            for step in row.timeline
        ],
        "recommendations": [
            {"text": r.text, "status": agency_requests.RECOMMENDATION_STATUSES.get(r.status, r.status)}
            for r in found or ()
        ],
        "recommendations_unavailable": row.engagement_id in recommendations and found is None,
        "withdrawable": agency_requests.withdrawal_refused(row.status, row.engagement_id) is None,
    }


def _hours(duration: timedelta) -> int:
    return max(1, round(duration.total_seconds() / 3600))


def _day(at: datetime) -> str:
    return f"{at:%B} {at.day}, {at:%Y}"


def _settings(request: Request) -> IntakeSettings:
    return runtime_of(request).settings  # type: ignore[return-value]
