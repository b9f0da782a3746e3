"""Intake's composition root: HTTP API, inbound topic, the status read model fed by downstream events, and the
pages for people (sign-in)."""

from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from services.intake import SERVICE, api, request_pages, sign_in
from services.intake.commands import NotYours
from services.intake.engagements import Engagements
from services.intake.group_commit import GroupCommit
from services.intake.handlers import STATUS_HANDLERS, InboundSubmissions
from services.intake.limits import BodyLimits
from services.intake.settings import IntakeSettings
from services.intake.workers import purge_ended_sign_in_periodically, purge_expired_keys_periodically
from shared.contract import topics
from shared.contract.events import (
    RequestContactGiven,
    RequestReceived,
    RequestWithdrawn,
    SignInLinkRequested,
    SubmissionConfirmationRequested,
    SubmissionRejected,
)
from shared.runtime.http import create_service_app
from shared.runtime.lifecycle import ServiceRuntime
from shared.runtime.web.pages import Web


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(SERVICE, settings, Path(__file__).parent / "migrations")
    runtime.consume([topics.REQUESTS, topics.ENGAGEMENTS], STATUS_HANDLERS)
    runtime.consume_records(
        [topics.INBOUND_SUBMISSIONS],
        f"cri-{SERVICE}-inbound",
        lambda pool: InboundSubmissions(pool, settings),
        description="Requests for assistance from other systems (the HTTP body as JSON); invalid ones are "
        "answered on cri.intake.rejections.",
    )
    runtime.publishes(
        RequestReceived,
        RequestContactGiven,
        SubmissionRejected,
        SignInLinkRequested,
        SubmissionConfirmationRequested,
        RequestWithdrawn,
    )
    runtime.background(purge_expired_keys_periodically)
    runtime.background(purge_ended_sign_in_periodically)
    group_commit = GroupCommit(
        settings.idempotency_key_ttl, max_group=settings.group_commit_max, writers=settings.group_commit_writers
    )

    async def http_group_commit(rt: ServiceRuntime) -> None:
        await group_commit.run(rt.pool)

    runtime.background(http_group_commit)

    app = create_service_app(
        runtime,
        title="CRI Exchange intake",
        description="Accepts requests for assistance from agencies and other systems, durably and once.",
    )
    app.state.group_commit = group_commit
    app.include_router(api.router)
    app.include_router(sign_in.api)
    app.include_router(sign_in.pages)
    app.include_router(request_pages.router)
    # One client for the life of the process, for "my requests" to read an assessment's recommendations.
    app.state.engagements = Engagements(
        httpx.AsyncClient(base_url=settings.engagements_url, timeout=3.0),
        settings.engagements_api_key.get_secret_value(),
    )
    Web([Path(__file__).parent / "templates"], lambda token: sign_in.person_of(runtime, token)).install(app)
    app.add_exception_handler(RequestValidationError, api.validation_failed)
    app.add_exception_handler(NotYours, api.not_yours)
    app.add_middleware(BodyLimits, max_body_bytes=settings.max_body_bytes)
    return app
