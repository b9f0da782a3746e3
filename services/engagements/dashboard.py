"""The program staff's dashboard: one HTML page that follows the portfolio through server-sent events."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from services.engagements import store
from shared.service import runtime_of

router = APIRouter(tags=["dashboard"])

_PAGE = Path(__file__).parent / "static" / "dashboard.html"
_KEEPALIVE_EVERY = 15  # refreshes without change between comments that keep proxies from closing the stream


@router.get("/dashboard", response_class=HTMLResponse)
async def page() -> HTMLResponse:
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"))


@router.get("/dashboard/summary")
async def summary(request: Request) -> dict:
    """The figures the page shows, once (what each stream event carries)."""
    async with runtime_of(request).pool.acquire() as conn:
        return await store.dashboard(conn)


@router.get("/dashboard/stream")
async def stream(request: Request) -> StreamingResponse:
    """Server-sent events: the figures now, then again each time they change."""
    runtime = runtime_of(request)
    refresh_s: float = runtime.settings.dashboard_refresh_s  # type: ignore[attr-defined]

    async def events() -> AsyncIterator[str]:
        sent, quiet = None, 0
        while not await request.is_disconnected():
            async with runtime.pool.acquire() as conn:
                figures = json.dumps(await store.dashboard(conn), default=str)
            if figures != sent:
                sent, quiet = figures, 0
                yield f"event: portfolio\ndata: {figures}\n\n"
            elif (quiet := quiet + 1) % _KEEPALIVE_EVERY == 0:
                yield ": keepalive\n\n"
            await asyncio.sleep(refresh_s)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
