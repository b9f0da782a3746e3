"""Engagements' composition root: the request consumer, the HTTP API, the provider workspace's pages, the deadline
scan, the dashboard."""

from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.engagements import SERVICE, api, dashboard_api, pages, workers
from services.engagements.domain.deadlines import DeadlineClock, load_deadlines
from services.engagements.handlers import make_handlers
from services.engagements.routing import Routing
from services.engagements.settings import EngagementsSettings
from shared.contract import topics
from shared.contract.events import (
    DeadlineMissed,
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    EngagementSnapshot,
    EngagementStatusChanged,
    MilestoneReached,
)
from shared.runtime.http import create_service_app
from shared.runtime.lifecycle import ServiceRuntime
from shared.runtime.web.pages import intake_web

HERE = Path(__file__).parent


def create_app(settings: EngagementsSettings | None = None) -> FastAPI:
    settings = settings or EngagementsSettings()
    # Read at start: a broken deadlines file stops the service here, with the file's line in the message.
    clock = DeadlineClock(load_deadlines(settings.deadlines_file), settings.deadline_day_seconds)
    runtime = ServiceRuntime(SERVICE, settings, HERE / "migrations")
    runtime.consume([topics.REQUESTS, topics.REQUEST_CONTACTS], make_handlers(clock))
    runtime.publishes(
        EngagementOpened,
        MilestoneReached,
        EngagementStatusChanged,
        DeadlineMissed,
        EngagementEscalated,
        EngagementClosed,
        EngagementSnapshot,
    )

    async def scan_deadlines(rt: ServiceRuntime) -> None:
        await workers.scan_deadlines(rt.pool, settings.deadline_scan_batch, settings.deadline_scan_interval_s)

    runtime.background(scan_deadlines)
    app = create_service_app(
        runtime,
        title="CRI Exchange engagements",
        description="Tracks every engagement from opening to close, with milestones, deadlines and a dashboard.",
    )
    app.state.deadline_clock = clock
    # One client for the life of the process, for the dashboard to read routing's registry (capacity per provider).
    routing_url = settings.routing_api_url or settings.routing_url
    app.state.routing = Routing(
        httpx.AsyncClient(base_url=routing_url, timeout=settings.routing_timeout_s) if routing_url else None,
        settings.routing_api_key.get_secret_value(),
        settings.routing_cache_s,
    )
    web = intake_web([HERE / "templates"], settings)  # people sign in on intake's pages
    pages.install(web)
    web.install(app)
    app.mount("/static/engagements", StaticFiles(directory=HERE / "static"), name="engagements-static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(dashboard_api.router)
    return app
