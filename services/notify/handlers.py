"""Notify's event handlers: a RequestReceived is remembered and told, its RequestContactGiven remembered; every
other event it follows is told (or parked until its request is on record; a link emailed to a person belongs to no
request and is told at once)."""

from services.notify.commands import Notifications
from shared.contract.envelope import EventData
from shared.contract.events import (
    DeadlineMissed,
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    RequestContactGiven,
    RequestNeedsReview,
    RequestQueued,
    RequestReceived,
    RequestRouted,
    RequestSubmitted,
    RequestWithdrawn,
    SignInLinkRequested,
    SubmissionConfirmationRequested,
)
from shared.runtime.consumer import EventHandler

FOLLOWED = (
    RequestRouted,
    RequestNeedsReview,
    RequestQueued,
    EngagementOpened,
    DeadlineMissed,
    EngagementEscalated,
    EngagementClosed,
    RequestWithdrawn,
    SignInLinkRequested,
    SubmissionConfirmationRequested,
)


def handlers(notifications: Notifications) -> dict[type[EventData], EventHandler]:
    return {
        RequestReceived: notifications.notify_of_request,
        RequestContactGiven: notifications.remember_contact,
        RequestSubmitted: notifications.notify_of_request,
        **dict.fromkeys(FOLLOWED, notifications.notify_of_event),
    }
