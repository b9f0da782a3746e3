"""Engagements' event handlers: a routed request opens its engagement."""

from services.engagements import commands
from services.engagements.domain.deadlines import DeadlineClock
from services.engagements.store import PostgresStore
from shared.contract.envelope import Envelope
from shared.contract.events import RequestRouted
from shared.runtime.consumer import EventHandler
from shared.runtime.outbox import UnitOfWork


def make_handlers(clock: DeadlineClock) -> dict[type, EventHandler]:
    async def on_routed(uow: UnitOfWork, envelope: Envelope, event: RequestRouted) -> None:
        await commands.open_engagement(PostgresStore(uow.conn), uow, clock, event, cause=envelope)

    return {RequestRouted: on_routed}
