"""Intake's composition root: HTTP API, inbound topic, and the status read model fed by downstream events."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from services.intake import api, store
from services.intake.group_commit import GroupCommit
from services.intake.inbound import InboundSubmissions
from services.intake.limits import BodyLimits
from services.intake.retention import purge_expired_keys_periodically
from services.intake.settings import IntakeSettings
from services.intake.status import status_change
from shared.contract import topics
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import (
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    MilestoneReached,
    RequestNeedsReview,
    RequestQueued,
    RequestRouted,
    RequestSubmitted,
    SubmissionRejected,
)
from shared.runtime.consumer import EventHandler
from shared.runtime.http import create_service_app
from shared.runtime.lifecycle import ServiceRuntime
from shared.runtime.outbox import UnitOfWork


async def _track_status(uow: UnitOfWork, envelope: Envelope, event: EventData) -> None:
    change = status_change(event)
    if change is not None:
        await store.record_status(uow.conn, envelope, event.request_id, change)  # type: ignore[attr-defined]


_STATUS_EVENTS: dict[type[EventData], EventHandler] = {
    model: _track_status
    for model in (
        RequestRouted,
        RequestNeedsReview,
        RequestQueued,
        EngagementOpened,
        MilestoneReached,
        EngagementEscalated,
        EngagementClosed,
    )
}


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(store.SOURCE, settings, Path(__file__).parent / "migrations")
    runtime.consume([topics.REQUESTS, topics.ENGAGEMENTS], _STATUS_EVENTS)
    runtime.consume_records(
        [topics.INBOUND_SUBMISSIONS],
        "cri-intake-inbound",
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
    app.add_middleware(BodyLimits, max_body_bytes=settings.max_body_bytes)
    return app
