"""Engagements' composition root."""

from pathlib import Path

from fastapi import FastAPI

from services.engagements.handlers import HANDLERS, SOURCE
from shared.contract import topics
from shared.service import ServiceRuntime, create_service_app
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    runtime = ServiceRuntime(SOURCE, settings, Path(__file__).parent / "migrations")
    runtime.consume([topics.REQUESTS], HANDLERS)
    return create_service_app(
        runtime,
        title="CRI Exchange engagements",
        description="Tracks every engagement from opening to close, with milestones and deadlines.",
    )
