"""Notify's composition root: event handlers record deliveries; a dispatcher sends them; a sweep plans parked
events."""

import asyncio
import logging
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.notify import SERVICE, api, workers
from services.notify.channels import Channels
from services.notify.commands import Notifications
from services.notify.domain.preferences import Preferences, load_preferences
from services.notify.domain.recipients import Recipient
from services.notify.domain.signatures import receiver_secrets
from services.notify.handlers import handlers
from services.notify.settings import NotifySettings
from services.notify.smtp import SmtpSessions
from shared.contract import topics
from shared.contract.events import DeadLettered, NotificationFailed, NotificationSent
from shared.runtime.http import create_service_app
from shared.runtime.lifecycle import ServiceRuntime

log = logging.getLogger(__name__)


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    preferences = load_preferences(settings.preferences_file)  # before anything starts: a bad file stops here
    secrets = webhook_secrets(settings, preferences)  # likewise a receiver without a secret of its own
    runtime = ServiceRuntime(SERVICE, settings, Path(__file__).parent / "migrations")
    staff = Recipient(
        role="staff", name=settings.staff_name, email=settings.staff_email, webhook_url=settings.staff_webhook_url
    )
    recorded = asyncio.Event()  # set when deliveries are committed: wakes the dispatcher
    notifications = Notifications(staff, preferences, recorded)
    runtime.consume(
        [topics.REQUESTS, topics.REQUEST_CONTACTS, topics.ENGAGEMENTS, topics.PEOPLE_LINKS],
        handlers(notifications),
        scope=notifications.batch,
    )
    runtime.publishes(NotificationSent, NotificationFailed, DeadLettered)

    async def dispatch(rt: ServiceRuntime) -> None:
        smtp = SmtpSessions(settings)
        try:
            async with httpx.AsyncClient() as http:
                channels = Channels(settings, http, smtp, secrets)
                await workers.Dispatcher(rt.pool, settings, channels, recorded).run()
        finally:
            await smtp.close()

    async def sweep_parked(rt: ServiceRuntime) -> None:
        await workers.sweep_parked(rt.pool, notifications, every_s=settings.parked_sweep_s)

    runtime.background(dispatch)
    runtime.background(sweep_parked)
    app = create_service_app(
        runtime,
        title="CRI Exchange notify",
        description="Tells the right people, once, over email and signed webhooks.",
    )
    app.include_router(api.router)
    return app


def webhook_secrets(settings: NotifySettings, preferences: Preferences) -> dict[str, str]:
    """Each configured webhook receiver's own signing secret (URL -> secret); raises WebhookSecretsError when
    one has none, or shares it."""
    receivers = {"the staff webhook": settings.staff_webhook_url} | {
        f"provider {provider_id}'s webhook": url for provider_id, url in preferences.provider_webhooks.items()
    }
    configured = {url: secret.get_secret_value() for url, secret in settings.webhook_secrets.items()}
    secrets = receiver_secrets(receivers, configured)
    if unused := sorted(set(configured) - set(secrets)):
        log.warning("CRI_WEBHOOK_SECRETS has secrets for URLs no receiver uses: %s", ", ".join(unused))
    return secrets
