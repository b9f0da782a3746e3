"""How downstream events move a request's status (pure): intake's read model of where each request is. The events
intake follows are the ones that have a rule here, named once."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.contract.envelope import EventData
from shared.contract.events import (
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    MilestoneReached,
    RequestNeedsReview,
    RequestQueued,
    RequestRouted,
)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A timeline entry; `columns` are the request row's columns this event sets."""

    status: str
    detail: dict[str, Any]
    columns: dict[str, Any] = field(default_factory=dict)


_RULES: dict[type[EventData], Callable[[Any], StatusChange]] = {
    RequestRouted: lambda event: StatusChange(
        "routed",
        {"tier": event.tier, "provider": event.provider.name, "decided_by": event.decided_by},
        {"tier": event.tier.value, "provider_id": event.provider.provider_id, "provider_name": event.provider.name},
    ),
    RequestNeedsReview: lambda event: StatusChange("in_review", {"reasons": event.reasons}),
    RequestQueued: lambda event: StatusChange(
        "queued", {"tier": event.tier, "reason": event.reason}, {"tier": event.tier.value}
    ),
    EngagementOpened: lambda event: StatusChange(
        "engagement_opened", {"engagement_id": str(event.engagement_id)}, {"engagement_id": event.engagement_id}
    ),
    MilestoneReached: lambda event: StatusChange("in_progress", {"milestone": event.milestone, "note": event.note}),
    EngagementEscalated: lambda event: StatusChange(
        "escalated", {"from_tier": event.from_tier, "to_tier": event.to_tier}
    ),
    EngagementClosed: lambda event: StatusChange("closed", {"outcome": event.outcome}),
}

FOLLOWED_EVENTS: tuple[type[EventData], ...] = tuple(_RULES)


def status_change(event: EventData) -> StatusChange:
    """What one of the followed events (`FOLLOWED_EVENTS`) does to its request."""
    return _RULES[type(event)](event)
