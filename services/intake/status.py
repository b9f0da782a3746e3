"""How downstream events move a request's status (pure): intake's read model of where each request is."""

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
from shared.contract.requests import Agency


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A timeline entry; `columns` are the request row's columns this event sets."""

    status: str
    detail: dict[str, Any]
    columns: dict[str, Any] = field(default_factory=dict)


def agency_key(agency: Agency) -> str:
    """Recognises one agency across submissions: its ORI when it has one, else its name within its state."""
    return f"ori:{agency.ori}" if agency.ori else f"name:{agency.state}:{' '.join(agency.name.lower().split())}"


def status_change(event: EventData) -> StatusChange | None:
    match event:
        case RequestRouted():
            return StatusChange(
                "routed",
                {"tier": event.tier, "provider": event.provider.name, "decided_by": event.decided_by},
                {
                    "tier": event.tier.value,
                    "provider_id": event.provider.provider_id,
                    "provider_name": event.provider.name,
                },
            )
        case RequestNeedsReview():
            return StatusChange("in_review", {"reasons": event.reasons})
        case RequestQueued():
            return StatusChange("queued", {"tier": event.tier, "reason": event.reason}, {"tier": event.tier.value})
        case EngagementOpened():
            return StatusChange(
                "engagement_opened", {"engagement_id": str(event.engagement_id)}, {"engagement_id": event.engagement_id}
            )
        case MilestoneReached():
            return StatusChange("in_progress", {"milestone": event.milestone, "note": event.note})
        case EngagementEscalated():
            return StatusChange("escalated", {"from_tier": event.from_tier, "to_tier": event.to_tier})
        case EngagementClosed():
            return StatusChange("closed", {"outcome": event.outcome})
    return None
