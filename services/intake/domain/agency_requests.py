"""An agency's requests as its people read them (pure): each step of a request's timeline in plain words, and
when the agency may still withdraw a request.

Withdrawal is for a request no provider holds yet: received, with program staff for review, or waiting for a
provider with room. Once routed, a provider has been given the request and its engagement opens; the agency then
settles it with the provider (who can close the engagement), because routing frees only places it booked and an
engagement holds its place until it is closed."""

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from shared.contract.vocabulary import Tier

WITHDRAWABLE = frozenset({"submitted", "in_review", "queued"})

TIERS: dict[str, str] = {
    Tier.CRI_TAC: "Training and technical assistance (CRI-TAC)",
    Tier.CRITICAL_RESPONSE: "Critical Response",
    Tier.ORGANIZATIONAL_ASSESSMENT: "Organizational Assessment",
}
STATUSES: dict[str, str] = {
    "submitted": "Received",
    "in_review": "With program staff",
    "queued": "Waiting for a provider",
    "routed": "Provider assigned",
    "engagement_opened": "Under way",
    "in_progress": "Under way",
    "escalated": "Moving to another kind of help",
    "closed": "Closed",
    "withdrawn": "Withdrawn",
}

RECOMMENDATION_STATUSES: dict[str, str] = {
    "proposed": "Proposed",
    "accepted": "Your agency committed to it",
    "in_progress": "In progress",
    "implemented": "Implemented",
    "not_implemented": "Not implemented",
    "withdrawn": "Withdrawn by the assessors",
}


def withdrawal_refused(status: str, engagement_id: UUID | None) -> str | None:
    """Why the agency may not withdraw a request in this state, in plain words; None when it may."""
    if engagement_id is not None or status in (
        "routed",
        "engagement_opened",
        "in_progress",
        "escalated",
    ):
        return "A provider already has this request. Contact them to stop the work; they can close the engagement."
    if status not in WITHDRAWABLE:
        return f"This request is {STATUSES.get(status, status).lower()}: there is nothing to withdraw."
    return None


def step_words(status: str, detail: Mapping[str, Any]) -> str:
    """One timeline entry as a sentence for the agency."""
    tier = TIERS.get(detail.get("tier"), "")
    match status:
        case "submitted":
            return "We received the request."
        case "in_review":
            return "Program staff are reading the request to choose the help that fits."
        case "queued":
            return f"Matched to {tier}. Waiting for a provider with room."
        case "routed":
            return f"Matched to {tier}, with {detail.get('provider')}."
        case "engagement_opened":
            return "The provider opened the engagement."
        case "in_progress":
            return f"Step reached: {str(detail.get('milestone', '')).replace('_', ' ')}."
        case "escalated":
            return f"Moving from {TIERS.get(detail.get('from_tier'), '')} to {TIERS.get(detail.get('to_tier'), '')}."
        case "closed":
            return f"The engagement closed: {str(detail.get('outcome', '')).replace('_', ' ')}."
        case "withdrawn":
            return f"Withdrawn by {detail.get('by')}."
    return STATUSES.get(status, status)
