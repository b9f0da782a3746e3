"""Routing's event handlers: each consumed event to one command."""

from services.routing import commands
from services.routing.domain.policy import Policy
from shared.contract.envelope import Envelope
from shared.contract.events import (
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    RequestReceived,
    RequestSubmitted,
    RequestWithdrawn,
)
from shared.runtime.consumer import RejectEvent
from shared.runtime.outbox import UnitOfWork


def make_handlers(policy: Policy):
    async def on_received(uow: UnitOfWork, envelope: Envelope, event: RequestReceived) -> None:
        await commands.route_received(uow, envelope, event, policy)

    async def on_submitted(uow: UnitOfWork, envelope: Envelope, event: RequestSubmitted) -> None:
        received, _contact = event.parts()  # routing keeps no contact person
        await commands.route_received(uow, envelope, received, policy)

    async def on_opened(uow: UnitOfWork, envelope: Envelope, event: EngagementOpened) -> None:
        await commands.hold_place(uow, event)

    async def on_closed(uow: UnitOfWork, envelope: Envelope, event: EngagementClosed) -> None:
        await commands.free_place(uow, envelope, event, policy)

    async def on_escalated(uow: UnitOfWork, envelope: Envelope, event: EngagementEscalated) -> None:
        try:
            await commands.escalate(uow, envelope, event, policy)
        except commands.UnknownRequest:
            raise RejectEvent(f"escalation of unknown request {event.request_id}") from None

    async def on_withdrawn(uow: UnitOfWork, envelope: Envelope, event: RequestWithdrawn) -> None:
        try:
            await commands.withdraw(uow, event)
        except commands.UnknownRequest:
            raise RejectEvent(f"withdrawal of unknown request {event.request_id}") from None

    return {
        RequestReceived: on_received,
        RequestSubmitted: on_submitted,
        EngagementOpened: on_opened,
        EngagementClosed: on_closed,
        EngagementEscalated: on_escalated,
        RequestWithdrawn: on_withdrawn,
    }
