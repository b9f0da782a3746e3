"""The staff dashboard over HTTP: one HTML page (static/dashboard.html) that follows the portfolio through
server-sent events, the stream itself and the figures once.

Staff only. A browser cannot send a bearer header (EventSource sets no headers), so opening
`/dashboard/sign-in?key=<staff key>` checks the key, keeps it in an HttpOnly, SameSite=Strict cookie scoped to
/dashboard and redirects to the page, so the key leaves the address bar; the page, its stream and summary accept
that cookie (or a bearer header).
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from services.engagements.store import Portfolio, PostgresStore
from shared.runtime.auth import Role, authorize, require
from shared.runtime.http import runtime_of

_COOKIE = "cri_dashboard_key"
_staff = require(Role.STAFF, cookie=_COOKIE)
router = APIRouter(tags=["dashboard"], responses={401: {"description": "No staff key"}})

_PAGE = Path(__file__).parent / "static" / "dashboard.html"
_KEEPALIVE_EVERY = 15  # refreshes without change between comments that keep proxies from closing the stream


@router.get("/dashboard/sign-in", status_code=status.HTTP_303_SEE_OTHER, responses={403: {"description": "Not staff"}})
async def sign_in(request: Request, key: str) -> RedirectResponse:
    """Check a staff key, keep it in the dashboard's cookie and go to the page."""
    authorize(runtime_of(request).settings.api_keys, key, frozenset({Role.STAFF}))
    signed_in = RedirectResponse("../dashboard", status.HTTP_303_SEE_OTHER)
    # HttpOnly: no script reads it; Strict: no other site's page makes the browser send it; Secure behind TLS.
    signed_in.set_cookie(
        _COOKIE, key, path="/dashboard", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return signed_in


@router.get("/dashboard", response_class=HTMLResponse, dependencies=[Depends(_staff)])
async def page() -> HTMLResponse:
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"))


@router.get("/dashboard/summary", dependencies=[Depends(_staff)])
async def summary(request: Request) -> Portfolio:
    """The figures the page shows, once (what each stream event carries)."""
    async with runtime_of(request).pool.acquire() as conn:
        return await PostgresStore(conn).portfolio()


@router.get("/dashboard/stream", dependencies=[Depends(_staff)])
async def stream(request: Request) -> StreamingResponse:
    """Server-sent events: the figures now, then again each time they change."""
    runtime = runtime_of(request)
    refresh_s: float = runtime.settings.dashboard_refresh_s  # type: ignore[attr-defined]

    async def events() -> AsyncIterator[str]:
        sent, quiet = None, 0
        while not await request.is_disconnected():
            async with runtime.pool.acquire() as conn:
                figures = (await PostgresStore(conn).portfolio()).model_dump_json()
            if figures != sent:
                sent, quiet = figures, 0
                yield f"event: portfolio\ndata: {figures}\n\n"
            elif (quiet := quiet + 1) % _KEEPALIVE_EVERY == 0:
                yield ": keepalive\n\n"
            await asyncio.sleep(refresh_s)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
