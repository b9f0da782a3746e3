"""Routing's composition root: policy and registry loaded (and validated, uncovered topics warned about) at start,
handlers, the long-wait sweep, staff API, staff pages."""

import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.routing import SERVICE, api, commands, pages, workers
from services.routing.domain.policy import load_policy
from services.routing.domain.providers import load_providers
from services.routing.domain.scoring import uncovered_topics
from services.routing.handlers import make_handlers
from services.routing.intake import Intake
from services.routing.settings import RoutingSettings
from shared.contract import topics
from shared.contract.events import RequestNeedsReview, RequestQueued, RequestRouted
from shared.runtime.http import create_service_app
from shared.runtime.lifecycle import ServiceRuntime
from shared.runtime.web.pages import intake_web

log = logging.getLogger(__name__)


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    # Invalid files stop the service here, at start, with the exact problem (PolicyError).
    policy = load_policy(settings.policy_file)
    providers = load_providers(settings.providers_file)
    for tier, missing in uncovered_topics(policy, providers, datetime.now(UTC).date()).items():
        log.warning(
            "policy %s: no %s provider covers %s: such requests go to staff", policy.version, tier, ", ".join(missing)
        )
    runtime = ServiceRuntime(SERVICE, settings, Path(__file__).parent / "migrations")

    async def seed_registry(rt: ServiceRuntime) -> None:
        async with rt.pool.acquire() as conn:
            await commands.seed_registry(conn, providers)

    runtime.on_start(seed_registry)

    async def review_long_waits(rt: ServiceRuntime) -> None:
        await workers.review_long_waits(rt.pool, policy, settings.wait_sweep_interval_s)

    runtime.background(review_long_waits)
    runtime.consume([topics.REQUESTS, topics.ENGAGEMENTS], make_handlers(policy))
    runtime.publishes(RequestRouted, RequestNeedsReview, RequestQueued)
    app = create_service_app(
        runtime,
        title="CRI Exchange routing",
        description="Assigns every request a tier and a provider, explainably, within capacity.",
    )
    app.state.policy = policy
    # One client for the life of the process, for staff's request page to read the contact person from intake.
    app.state.intake = Intake(
        httpx.AsyncClient(base_url=settings.intake_url, timeout=2.0), settings.intake_api_key.get_secret_value()
    )
    app.include_router(api.router)
    pages.install(app, intake_web([Path(__file__).parent / "templates"], settings))
    return app
