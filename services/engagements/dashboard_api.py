"""The staff dashboard over HTTP: one page (templates/dashboard.html) whose figures the server renders, then
renders again and sends over server-sent events each time they change (static/dashboard.js puts them in place);
and the figures once, as JSON, for other tools.

Staff only: a signed-in staff member (the people's session, `cri_session`), or a staff key. A browser cannot
send a bearer header (EventSource sets no headers), so opening `/dashboard/sign-in?key=<staff key>` checks the
key, keeps it in an HttpOnly, SameSite=Strict cookie scoped to /dashboard and redirects to the page; the page,
its stream and summary accept that cookie, a bearer header or the session.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from services.engagements.domain.dashboard import capacity_bars, load_bars, week_start, weekly_chart, weekly_counts
from services.engagements.routing import ProviderCapacity, Routing
from services.engagements.store import Portfolio, PostgresStore
from shared.runtime.auth import Principal, Role, authorize
from shared.runtime.http import runtime_of
from shared.runtime.web.pages import web_of
from shared.runtime.web.session import session_token, signed_in

_COOKIE = "cri_dashboard_key"
_STAFF = frozenset({Role.STAFF})
_WEEKS = 12  # requests per week: this many weeks, the current one last
router = APIRouter(tags=["dashboard"], responses={401: {"description": "No staff key nor staff session"}})

_KEEPALIVE_EVERY = 15  # refreshes without change between comments that keep proxies from closing the stream
_bearer = HTTPBearer(auto_error=False, description="A staff API key.")
_key_cookie = APIKeyCookie(name=_COOKIE, auto_error=False, description="The staff key kept by /dashboard/sign-in.")
_staff_member = signed_in(Role.STAFF)


async def _staff(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    key: Annotated[str | None, Depends(_key_cookie)],
) -> Principal:
    """A staff key (bearer header or the dashboard's cookie), else a signed-in staff member; with neither, 401
    for a tool, while the page sends a browser to sign in (below)."""
    given = bearer.credentials if bearer else key
    if given or (session_token(request) is None and request.url.path != "/dashboard"):
        return authorize(runtime_of(request).settings.api_keys, given, _STAFF)
    return await _staff_member(request)


Staff = Depends(_staff)


@router.get("/dashboard/sign-in", status_code=status.HTTP_303_SEE_OTHER, responses={403: {"description": "Not staff"}})
async def sign_in(request: Request, key: str) -> RedirectResponse:
    """Check a staff key, keep it in the dashboard's cookie and go to the page."""
    authorize(runtime_of(request).settings.api_keys, key, _STAFF)
    signed_in = RedirectResponse("../dashboard", status.HTTP_303_SEE_OTHER)
    # HttpOnly: no script reads it; Strict: no other site's page makes the browser send it; Secure behind TLS.
    signed_in.set_cookie(
        _COOKIE, key, path="/dashboard", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return signed_in


@router.get("/dashboard", dependencies=[Staff], include_in_schema=False)
async def page(request: Request) -> Response:
    web = web_of(request)
    async with runtime_of(request).pool.acquire() as conn:
        portfolio = await _portfolio(PostgresStore(conn))
    registry = await _routing(request).registry()
    return await web.render(
        request, "dashboard.html", **figures(portfolio, datetime.now(UTC), _triage(request), registry)
    )


@router.get("/dashboard/summary", dependencies=[Staff])
async def summary(request: Request) -> Portfolio:
    """The figures the page shows, once."""
    async with runtime_of(request).pool.acquire() as conn:
        return await _portfolio(PostgresStore(conn))


@router.get("/dashboard/stream", dependencies=[Staff])
async def stream(request: Request) -> StreamingResponse:
    """Server-sent events (`event: figures`): the figures rendered as HTML now, then again each time they change."""
    runtime = runtime_of(request)
    refresh_s: float = runtime.settings.dashboard_refresh_s  # type: ignore[attr-defined]
    template = web_of(request).env.get_template("dashboard_figures.html")

    async def events() -> AsyncIterator[str]:
        sent, quiet = None, 0
        while not await request.is_disconnected():
            async with runtime.pool.acquire() as conn:
                portfolio = await _portfolio(PostgresStore(conn))
            registry = await _routing(request).registry()  # cached: routing is asked every few seconds at most
            if (portfolio, registry) != sent:
                sent, quiet = (portfolio, registry), 0
                html = template.render(**figures(portfolio, datetime.now(UTC), _triage(request), registry))
                yield "event: figures\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
            elif (quiet := quiet + 1) % _KEEPALIVE_EVERY == 0:
                yield ": keepalive\n\n"
            await asyncio.sleep(refresh_s)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _portfolio(store: PostgresStore) -> Portfolio:
    today = datetime.now(UTC).date()
    return await store.portfolio(week_start(today) - timedelta(weeks=_WEEKS - 1))


def _triage(request: Request) -> str | None:
    return runtime_of(request).settings.routing_url  # type: ignore[attr-defined]


def _routing(request: Request) -> Routing:
    return request.app.state.routing  # type: ignore[no-any-return]


def figures(
    portfolio: Portfolio, now: datetime, triage: str | None, registry: list[ProviderCapacity] | None = None
) -> dict[str, Any]:
    """What templates/dashboard_figures.html draws: the portfolio, load bars, load against capacity from routing's
    registry (None: routing could not be read, the page says capacity is unavailable), the weekly chart, and where
    routing's triage pages are (None: no links to them)."""
    loads = [(p.provider_id, p.name, p.open, p.total) for p in portfolio.providers]
    capacity = None
    if registry is not None:
        capacity = capacity_bars([(r.provider_id, r.name, r.active, r.capacity) for r in registry if r.partner_today])
    counted = {week.week: week.n for week in portfolio.weekly}
    return {
        "p": portfolio,
        "bars": load_bars(loads),
        "capacity": capacity,
        "weekly": weekly_chart(weekly_counts(counted, now.date(), _WEEKS)),
        "now": now,
        "triage": triage,
    }
