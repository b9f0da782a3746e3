"""People's sign-in over HTTP (docs/security.md, "People's sign-in"): the pages (ask for a link, open it, the
signed-in landing page, sign out) and the introspection API other services ask who a session cookie is. Thin:
read the form, call a command in a unit of work, render its answer."""

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, EmailStr, Field, ValidationError

from services.intake import commands
from services.intake.domain.signin import in_words
from services.intake.settings import IntakeSettings
from services.intake.store import PostgresSignIn
from shared.runtime.auth import Principal, Role, require
from shared.runtime.http import runtime_of
from shared.runtime.lifecycle import ServiceRuntime
from shared.runtime.outbox import unit_of_work
from shared.runtime.web.forms import read_form
from shared.runtime.web.pages import local_path, web_of
from shared.runtime.web.session import Person, clear_session_cookie, session_token, set_session_cookie, signed_in

log = logging.getLogger(__name__)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/v1", tags=["sessions"])

LANDING = "/account"
ROLE_NAMES = {Role.AGENCY: "Agency contact", Role.PROVIDER: "Provider", Role.STAFF: "COPS Office program staff"}
_EMAIL_ERROR = "Enter an email address like jlee@springfield.example.gov"


class _Address(BaseModel):
    email: EmailStr


def _settings(request: Request) -> IntakeSettings:
    return runtime_of(request).settings  # type: ignore[return-value]


def _link_minutes(request: Request) -> int:
    return int(_settings(request).signin_link_ttl.total_seconds() // 60)


async def _stale(request: Request) -> Response:
    return await web_of(request).render(request, "sign_in_stale.html", status_code=410, minutes=_link_minutes(request))


@pages.get("/sign-in")
async def sign_in(request: Request) -> Response:
    return await web_of(request).render(
        request,
        "sign_in.html",
        email="",
        errors={},
        next=local_path(request.query_params.get("next"), LANDING),
        signed_out="signed_out" in request.query_params,
    )


@pages.post("/sign-in")
async def ask_for_link(request: Request, background: BackgroundTasks) -> Response:
    """The same page whether or not the address is known, answered before that is even looked up: the link is
    made and sent once the answer has gone (a background task of this request)."""
    web = web_of(request)
    form = await read_form(request)
    web.check_form(request, form)
    typed, next_path = str(form.get("email", "")).strip(), local_path(str(form.get("next", "")), LANDING)
    try:
        email = _Address(email=typed).email
    except ValidationError:
        errors = {"email": _EMAIL_ERROR}
        return await web.render(
            request, "sign_in.html", status_code=422, email=typed, errors=errors, next=next_path, signed_out=False
        )
    settings = _settings(request)
    client = request.client.host if request.client else "unknown"
    async with unit_of_work(runtime_of(request).pool) as uow:
        decision = await commands.ask_for_sign_in(
            PostgresSignIn(uow.conn), email, client, datetime.now(UTC), settings.signin_limits
        )
    if not decision.allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many sign-in links were asked for this address or from this network. "
            f"Try again in {in_words(decision.retry_after)}.",
            headers={"Retry-After": str(int(decision.retry_after.total_seconds()) + 1)},
        )
    background.add_task(_send_link, runtime_of(request), email, next_path)
    return await web.render(request, "sign_in_sent.html", email=email, minutes=_link_minutes(request))


async def _send_link(runtime: ServiceRuntime, email: str, next_path: str) -> None:
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    try:
        async with unit_of_work(runtime.pool) as uow:
            await commands.send_sign_in_link(
                PostgresSignIn(uow.conn),
                uow,
                email,
                next_path,
                staff=settings.staff_emails,
                link_ttl=settings.signin_link_ttl,
                link_base=settings.link_base,
                now=datetime.now(UTC),
            )
    except Exception:  # noqa: BLE001 - the page is answered already: the person asks again
        log.exception("a sign-in link could not be made")


@pages.get("/sign-in/link")
async def open_link(request: Request) -> Response:
    """What a sign-in link opens: a button that signs in. Opening uses nothing up, so a mail scanner that
    follows links does not spend it."""
    token = request.query_params.get("token", "")
    async with runtime_of(request).pool.acquire() as conn:
        link = await commands.usable_link(PostgresSignIn(conn), token, datetime.now(UTC))
    if link is None:
        return await _stale(request)
    hours = int(_settings(request).session_ttl.total_seconds() // 3600)
    return await web_of(request).render(request, "sign_in_link.html", email=link.email, token=token, hours=hours)


@pages.post("/sign-in/link")
async def use_link(request: Request) -> Response:
    form = await read_form(request)
    web_of(request).check_form(request, form)
    settings = _settings(request)
    async with unit_of_work(runtime_of(request).pool) as uow:
        opened = await commands.open_session(
            PostgresSignIn(uow.conn),
            str(form.get("token", "")),
            session_token(request),
            staff=settings.staff_emails,
            session_ttl=settings.session_ttl,
            now=datetime.now(UTC),
        )
    if opened is None:
        return await _stale(request)
    signed_in_now = RedirectResponse(local_path(opened.next_path, LANDING), status.HTTP_303_SEE_OTHER)
    set_session_cookie(signed_in_now, request, opened.token, int(settings.session_ttl.total_seconds()))
    return signed_in_now


@pages.post("/sign-out")
async def sign_out(request: Request) -> Response:
    form = await read_form(request)
    web_of(request).check_form(request, form)
    token = session_token(request)
    if token:
        async with runtime_of(request).pool.acquire() as conn:
            await commands.end_session(PostgresSignIn(conn), token)
    signed_out = RedirectResponse("/sign-in?signed_out", status.HTTP_303_SEE_OTHER)
    clear_session_cookie(signed_out)
    return signed_out


@pages.get("/account")
async def account(request: Request, _person: Annotated[Person, Depends(signed_in())]) -> Response:
    async with runtime_of(request).pool.acquire() as conn:
        session = await commands.session_of(PostgresSignIn(conn), session_token(request) or "", datetime.now(UTC))
    if session is None:  # ended between the two reads
        return RedirectResponse(f"/sign-in?next={LANDING}", status.HTTP_303_SEE_OTHER)
    return await web_of(request).render(request, "account.html", roles=ROLE_NAMES, ends_at=session.expires_at)


async def person_of(runtime: ServiceRuntime, token: str) -> Person | None:
    """Intake's session lookup (shared.runtime.web.session.SessionLookup): its own store."""
    async with runtime.pool.acquire() as conn:
        session = await commands.session_of(PostgresSignIn(conn), token, datetime.now(UTC))
    return session.person if session else None


class Introspection(BaseModel):
    token: str = Field(min_length=1, max_length=200, description="The value of a person's `cri_session` cookie.")


@api.post(
    "/sessions/introspect",
    response_model=Person,
    responses={
        401: {"description": "No live session for this token (no challenge), or no or an unknown API key"},
        403: {"description": "Not a service key"},
    },
)
async def introspect(
    body: Introspection,
    request: Request,
    _caller: Annotated[Principal, Depends(require(Role.SERVICE))],
) -> Person:
    """Who a session cookie signs in: for routing and engagements, which receive the cookie on the same host."""
    person = await person_of(runtime_of(request), body.token)
    if person is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="no live session for this token")
    return person
