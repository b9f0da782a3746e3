"""Intake's composition root: HTTP API, inbound topic, and the status read model fed by downstream events."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from services.intake import SERVICE, api
from services.intake.commands import NotYours
from services.intake.group_commit import GroupCommit
from services.intake.handlers import STATUS_HANDLERS, InboundSubmissions
from services.intake.limits import BodyLimits
from services.intake.settings import IntakeSettings
from services.intake.workers import purge_expired_keys_periodically
from shared.contract import topics
from shared.contract.events import RequestSubmitted, SubmissionRejected
from shared.runtime.http import create_service_app
from shared.runtime.lifecycle import ServiceRuntime


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
    runtime.publishes(RequestSubmitted, SubmissionRejected)
    runtime.background(purge_expired_keys_periodically)
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
    app.add_exception_handler(RequestValidationError, api.validation_failed)
    app.add_exception_handler(NotYours, api.not_yours)
    app.add_middleware(BodyLimits, max_body_bytes=settings.max_body_bytes)
    return app
