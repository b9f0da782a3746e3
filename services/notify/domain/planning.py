"""Who hears what about an event: one planned notification per recipient and channel.

| event               | kind                     | recipient                                                   |
| ------------------- | ------------------------ | ----------------------------------------------------------- |
| RequestReceived     | request_received         | agency contact (RequestSubmitted, which it replaced, too)   |
| RequestRouted       | request_routed_agency    | agency contact: tier, provider, next steps                  |
|                     | assignment_provider      | provider (event.provider.contact_email)                     |
| RequestNeedsReview  | review_needed_staff      | staff                                                       |
| RequestQueued       | request_queued_agency    | agency contact                                              |
| EngagementOpened    | engagement_opened_agency | agency contact (the provider heard all it needs at routing) |
| DeadlineMissed      | deadline_missed_staff    | staff                                                       |
|                     | deadline_missed_provider | provider                                                    |
| EngagementEscalated | engagement_escalated     | staff (the agency hears of the new tier when it is routed)  |
| EngagementClosed    | engagement_closed_agency | agency contact                                              |
| RequestWithdrawn    | request_withdrawn_agency | agency contact                                              |
|                     | request_withdrawn_provider | the provider it was routed to, when it was (its engagement  |
|                     |                          | opens all the same: routing frees no place it booked); when |
|                     |                          | routing comes after the withdrawal, this replaces           |
|                     |                          | assignment_provider                                         |
| SignInLinkRequested | sign_in_link             | the person who asked (email only, whatever the preferences) |
| SubmissionConfirmationRequested | submission_confirmation | the contact of a request sent by the public form (email |
|                     |                          | only, whatever the preferences)                             |
| anything else       |                          | nobody                                                      |

MilestoneReached is in "anything else": milestone names belong to the engagements service, not the contract,
and the agency follows its milestones on its status page.

Staff's webhook URL is a setting; a provider's comes from `Preferences.provider_webhooks` (keyed by provider id).
Each recipient gets one notification per channel its preferences allow. A recipient whose address for that
channel is unknown (no request facts on record, a provider without a mailbox) is planned all the same, with
`PlannedNotification.address` None, so the caller records the failure ("missing recipient address") instead of
the message silently never existing.
"""

from uuid import UUID

from pydantic import BaseModel, ConfigDict, JsonValue

from services.notify.domain.confidentiality import is_confidential, readable_request
from services.notify.domain.kinds import PERSONAL_LINKS, Kind
from services.notify.domain.preferences import Preferences
from services.notify.domain.recipients import Channel, Recipient
from services.notify.domain.request_facts import RequestFacts
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import (
    AgencySummary,
    DeadlineMissed,
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    ProviderRef,
    RequestNeedsReview,
    RequestQueued,
    RequestReceived,
    RequestRouted,
    RequestSubmitted,
    RequestWithdrawn,
    SignInLinkRequested,
    SubmissionConfirmationRequested,
)
from shared.contract.vocabulary import Tier

TIER_LABELS: dict[Tier, str] = {
    Tier.CRI_TAC: "CRI-TAC (Training and Technical Assistance Center)",
    Tier.CRITICAL_RESPONSE: "Critical Response",
    Tier.ORGANIZATIONAL_ASSESSMENT: "Organizational Assessment",
}
NEXT_STEPS: dict[Tier, str] = {
    Tier.CRI_TAC: (
        "The provider will contact you to agree on the assistance (web or in-person training, virtual coaching, "
        "facilitation, on-site consultation or referral to resources) and its dates. There is no cost to your agency."
    ),
    Tier.CRITICAL_RESPONSE: (
        "The provider will contact you promptly to scope the assistance. A short executive consultation takes "
        "about two weeks; an in-depth review takes six to nine months. There is no cost to your agency."
    ),
    Tier.ORGANIZATIONAL_ASSESSMENT: (
        "The provider will contact you to plan the preliminary assessment. The assessment then moves through "
        "systemic analysis, findings and recommendations, and implementation support with progress reports; "
        "it usually takes a year or more. There is no cost to your agency."
    ),
}


class PlannedNotification(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    recipient: Recipient
    channel: Channel
    cause_event_id: UUID
    cause_event_type: str
    request_id: UUID | None
    engagement_id: UUID | None
    context: dict[str, JsonValue]

    @property
    def address(self) -> str | None:
        """Where to deliver; None means the caller fails this notification: missing recipient address."""
        return self.recipient.address(self.channel)


def plan_notifications(
    envelope: Envelope,
    event: EventData,
    *,
    request: RequestFacts | None,
    staff: Recipient,
    preferences: Preferences,
) -> list[PlannedNotification]:
    """Who hears what about `event` (see the module's table), one notification per recipient and channel."""
    agency = (
        Recipient(role="agency", name=request.contact_name, email=request.contact_email)
        if request
        else Recipient(role="agency", name="agency contact")
    )
    facts: dict[str, JsonValue]
    audience: list[tuple[Kind, Recipient]]
    match event:
        case RequestReceived() | RequestSubmitted():
            facts, audience = {}, [("request_received", agency)]
        case RequestRouted():
            facts = {
                **_tier(event.tier),
                "provider_name": event.provider.name,
                "next_steps": NEXT_STEPS[event.tier],
                "escalated": event.escalated_from_engagement_id is not None,
            }
            provider_kind: Kind = "assignment_provider"
            if request and request.withdrawn_at:
                # The agency withdrew it while routing decided: the provider's one email about it says both.
                facts |= {"withdrawn_at": request.withdrawn_at.isoformat(), "reason": None}
                provider_kind = "request_withdrawn_provider"
            audience = [("request_routed_agency", agency), (provider_kind, _provider(event.provider, preferences))]
        case RequestNeedsReview():
            facts = {
                "reasons": list(event.reasons),
                "candidate_tiers": [TIER_LABELS[tier] for tier in event.candidate_tiers],
                "policy_version": event.policy_version,
                "agency": event.agency.model_dump(mode="json"),
            }
            audience = [("review_needed_staff", staff)]
        case RequestQueued():
            facts, audience = _tier(event.tier), [("request_queued_agency", agency)]
        case EngagementOpened():
            facts = {
                **_tier(event.tier),
                "provider_name": event.provider.name,
                "opened_at": event.opened_at.isoformat(),
            }
            audience = [("engagement_opened_agency", agency)]
        case DeadlineMissed():
            facts = {
                **_tier(event.tier),
                "provider_name": event.provider.name,
                "milestone": event.milestone,
                "due_at": event.due_at.isoformat(),
            }
            audience = [
                ("deadline_missed_staff", staff),
                ("deadline_missed_provider", _provider(event.provider, preferences)),
            ]
        case EngagementEscalated():
            facts = {
                "from_tier_label": TIER_LABELS[event.from_tier],
                "to_tier_label": TIER_LABELS[event.to_tier],
                "reason": event.reason,
                "escalated_by": event.escalated_by,
                "urgency": event.urgency.value,
                "agency": event.agency.model_dump(mode="json"),
            }
            audience = [("engagement_escalated", staff)]
        case EngagementClosed():
            facts = {
                **_tier(event.tier),
                "provider_name": event.provider.name,
                "outcome": event.outcome,
                "closed_at": event.closed_at.isoformat(),
            }
            audience = [("engagement_closed_agency", agency)]
        case RequestWithdrawn():
            facts = {"withdrawn_at": event.withdrawn_at.isoformat(), "reason": event.reason}
            audience = [("request_withdrawn_agency", agency)]
            if request and request.provider:
                audience.append(("request_withdrawn_provider", _provider(request.provider, preferences)))
        case SignInLinkRequested():
            facts = {"url": event.url, "expires_at": event.expires_at.isoformat(), "minutes": _minutes_left(event)}
            audience = [("sign_in_link", Recipient(role=event.role, name=event.name, email=str(event.email)))]
        case SubmissionConfirmationRequested():
            facts = {"url": event.url, "expires_at": event.expires_at.isoformat(), "minutes": _minutes_left(event)}
            facts["agency_name"] = event.agency_name  # no request on record yet: the event names its agency
            audience = [("submission_confirmation", Recipient(role="agency", name=event.name, email=str(event.email)))]
        case _:
            return []

    request_id: UUID | None = getattr(event, "request_id", None)
    engagement_id: UUID | None = getattr(event, "engagement_id", None)
    summary: AgencySummary | None = getattr(event, "agency", None)
    confidential = is_confidential(request, event)
    common: dict[str, JsonValue] = {
        "request_id": str(request_id) if request_id else None,
        "engagement_id": str(engagement_id) if engagement_id else None,
        "agency_name": request.agency_name if request else (summary.name if summary else "(agency not on record)"),
        **facts,
    }
    return [
        PlannedNotification(
            kind=kind,
            recipient=recipient,
            channel=channel,
            cause_event_id=envelope.event_id,
            cause_event_type=envelope.type,
            request_id=request_id,
            engagement_id=engagement_id,
            context={
                **common,
                "recipient_name": recipient.name,
                "request": readable_request(request, recipient.role, channel, confidential),
            },
        )
        for kind, recipient in audience
        for channel in (["email"] if kind in PERSONAL_LINKS else preferences.channels_for(recipient, kind))
    ]


def _provider(provider: ProviderRef, preferences: Preferences) -> Recipient:
    return Recipient(
        role="provider",
        name=provider.name,
        email=provider.contact_email,
        webhook_url=preferences.provider_webhooks.get(provider.provider_id),
    )


def _minutes_left(event: SignInLinkRequested | SubmissionConfirmationRequested) -> int:
    """How long the link works, as the email tells it: from when it was asked for (notify may send it later)."""
    return max(1, round((event.expires_at - event.requested_at).total_seconds() / 60))


def _tier(tier: Tier) -> dict[str, JsonValue]:
    return {"tier": tier.value, "tier_label": TIER_LABELS[tier]}
