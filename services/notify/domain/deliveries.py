"""A delivery: one planned notification to one recipient on one channel. Its id, how an attempt at it fails,
and how the delivery log shows it."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.notify.domain.recipients import Channel, Recipient, Role
from shared.contract.ids import derived_id

Status = Literal["pending", "sent", "failed"]

_DELIVERY_NAMESPACE = UUID("fd3e369d-de86-4758-8b1e-c6237e00f298")


def delivery_id(cause_event_id: UUID, recipient: Recipient, channel: Channel) -> UUID:
    """The same event, recipient and channel always give the same id: redelivered events send nothing twice."""
    address = (recipient.address(channel) or "").lower()
    return derived_id(_DELIVERY_NAMESPACE, cause_event_id, recipient.role, channel, address)


class DeliveryFailed(Exception):
    """An attempt failed; `permanent` says whether trying again could help. `reason` is notify's own words (they
    go into NotificationFailed and dead letters); `answer` the receiving server's, which often repeat the
    recipient's address, so only the delivery log keeps them."""

    def __init__(self, reason: str, *, permanent: bool, answer: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.answer = answer

    def logged(self, reason: str) -> str:
        """`reason` with the server's answer, for the delivery log."""
        return f"{reason} (answer: {self.answer})" if self.answer else reason


class Delivery(BaseModel):
    """One notification to one recipient on one channel; its rendered text is never shown (it may be confidential)."""

    model_config = ConfigDict(frozen=True)

    delivery_id: UUID
    request_id: UUID | None
    engagement_id: UUID | None
    cause_event_id: UUID
    cause_event_type: str = Field(examples=["RequestRouted"])
    kind: str = Field(examples=["assignment_provider"])
    role: Role
    channel: Channel
    recipient: str | None = Field(description="Email address or webhook URL; null when none was known.")
    status: Status
    attempts: int = Field(description="Sends tried so far (a send in progress counts).")
    last_error: str | None = Field(description="Why the last attempt failed, or why the delivery was given up.")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    finished_at: datetime | None
