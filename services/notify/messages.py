"""Who hears what, in which words (pure: the only I/O is reading the templates next to this file).

Who hears what:

| event               | kind                     | recipient                                                   |
| ------------------- | ------------------------ | ----------------------------------------------------------- |
| RequestSubmitted    | request_received         | agency contact                                              |
| RequestRouted       | request_routed_agency    | agency contact: tier, provider, next steps                  |
|                     | assignment_provider      | provider (event.provider.contact_email)                     |
| RequestNeedsReview  | review_needed_staff      | staff                                                       |
| RequestQueued       | request_queued_agency    | agency contact                                              |
| EngagementOpened    | engagement_opened_agency | agency contact (the provider heard all it needs at routing) |
| DeadlineMissed      | deadline_missed_staff    | staff                                                       |
|                     | deadline_missed_provider | provider                                                    |
| EngagementEscalated | engagement_escalated     | staff (the agency hears of the new tier when it is routed)  |
| EngagementClosed    | engagement_closed_agency | agency contact                                              |
| anything else       |                          | nobody                                                      |

MilestoneReached is in "anything else": milestone names belong to the engagements service, not the contract,
and the agency follows its milestones on its status page.

Staff's webhook URL is a setting; a provider's comes from `Preferences.provider_webhooks` (keyed by provider id).
Each recipient gets one notification per channel its preferences allow. A recipient whose address for that
channel is unknown (no request facts on record, a provider without a mailbox) is planned all the same, with
`PlannedNotification.address` None, so the caller records the failure ("missing recipient address") instead of
the message silently never existing.

Confidentiality: the incident summary reaches the agency that wrote it and program staff, by email. Providers
and every webhook (chat rooms and logs: broadcast in practice) get it only when the request is not
confidential, and webhooks never carry the agency contact's personal details. The rule is applied where the
template context is built, so no template can leak what its context does not hold.
"""

import hashlib
import hmac
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Literal
from uuid import UUID, uuid5

import jinja2
from pydantic import BaseModel, ConfigDict, JsonValue, field_validator

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
    RequestRouted,
    RequestSubmitted,
)
from shared.contract.vocabulary import AgencyType, CriticalAssistance, Tier, TopicArea, Urgency

Role = Literal["agency", "provider", "staff"]
Channel = Literal["email", "webhook"]
CHANNELS: tuple[Channel, ...] = ("email", "webhook")

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

_DELIVERY_NAMESPACE = UUID("fd3e369d-de86-4758-8b1e-c6237e00f298")
_TEMPLATE_DIR = Path(__file__).parent / "templates"
# Every message kind has templates named after it; a kind is known when its subject template exists.
KINDS = frozenset(path.name.removesuffix(".subject.txt") for path in _TEMPLATE_DIR.glob("*.subject.txt"))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Recipient(_Frozen):
    role: Role
    name: str
    email: str | None = None
    webhook_url: str | None = None

    def address(self, channel: Channel) -> str | None:
        return self.email if channel == "email" else self.webhook_url


class RequestFacts(_Frozen):
    """What notify keeps from a RequestSubmitted to address and describe later messages about that request.

    The free-text description of the assistance wanted is deliberately not kept: an agency asking for
    confidentiality may well repeat the incident there.
    """

    request_id: UUID
    agency_name: str
    agency_type: AgencyType
    agency_state: str
    contact_name: str
    contact_title: str
    contact_email: str
    topic_areas: tuple[TopicArea, ...]
    urgency: Urgency
    confidential: bool
    incident_summary: str | None
    submitted_at: datetime

    @classmethod
    def from_submitted(cls, event: RequestSubmitted) -> "RequestFacts":
        request, incident = event.request, event.request.incident
        return cls(
            request_id=event.request_id,
            agency_name=request.agency.name,
            agency_type=request.agency.type,
            agency_state=request.agency.state,
            contact_name=request.contact.name,
            contact_title=request.contact.title,
            contact_email=request.contact.email,
            topic_areas=tuple(request.assistance.topic_areas),
            urgency=request.urgency,
            # Asking for a confidential consultation is read as asking for confidentiality: when in doubt, withhold.
            confidential=incident is not None
            and (incident.confidential or CriticalAssistance.CONFIDENTIAL_CONSULTATION in incident.assistance),
            incident_summary=incident.summary if incident else None,
            submitted_at=event.submitted_at,
        )


class RecipientPreferences(_Frozen):
    channels: frozenset[Channel] | None = None  # None: the default channels
    opted_out: frozenset[str] = frozenset()  # message kinds

    @field_validator("opted_out")
    @classmethod
    def _known_kinds(cls, opted_out: frozenset[str]) -> frozenset[str]:
        # A misspelt kind would silently opt out of nothing.
        unknown = sorted(opted_out - KINDS)
        if unknown:
            raise ValueError(f"unknown message kinds {unknown}; known: {sorted(KINDS)}")
        return opted_out


class Preferences(_Frozen):
    """Per address (a recipient's email, or its webhook URL when it has no email): channels and opt-outs.

    Without an entry, or without `channels` in it: email for everyone, webhook where a webhook URL exists.
    Events name a provider by id and mailbox only, so a provider's webhook URL comes from `provider_webhooks`
    (provider id -> URL): the id is the provider's stable identity, and it exists even without a mailbox.
    """

    by_address: dict[str, RecipientPreferences] = {}
    provider_webhooks: dict[str, str] = {}

    @field_validator("provider_webhooks")
    @classmethod
    def _http_urls(cls, provider_webhooks: dict[str, str]) -> dict[str, str]:
        for provider_id, url in provider_webhooks.items():
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"webhook of provider {provider_id!r} is not an http(s) URL: {url!r}")
        return provider_webhooks

    @field_validator("by_address")
    @classmethod
    def _case_insensitive(cls, by_address: dict[str, RecipientPreferences]) -> dict[str, RecipientPreferences]:
        return {address.lower(): preferences for address, preferences in by_address.items()}

    def channels_for(self, recipient: Recipient, kind: str) -> list[Channel]:
        own = self.by_address.get((recipient.email or recipient.webhook_url or "").lower(), RecipientPreferences())
        if kind in own.opted_out:
            return []
        default = {"email", "webhook"} if recipient.webhook_url else {"email"}
        allowed = own.channels if own.channels is not None else default
        return [channel for channel in CHANNELS if channel in allowed]


class PlannedNotification(_Frozen):
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


class RenderedMessage(_Frozen):
    subject: str
    text: str
    html: str


class RenderError(Exception):
    """A template could not be rendered; the reason says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def plan_notifications(
    envelope: Envelope,
    event: EventData,
    *,
    request: RequestFacts | None,
    staff: Recipient,
    preferences: Preferences,
) -> list[PlannedNotification]:
    """Who hears what about `event` (see the module's table), one notification per recipient and channel."""
    if isinstance(event, RequestSubmitted):
        request = request or RequestFacts.from_submitted(event)
    agency = (
        Recipient(role="agency", name=request.contact_name, email=request.contact_email)
        if request
        else Recipient(role="agency", name="agency contact")
    )
    facts: dict[str, JsonValue]
    audience: list[tuple[str, Recipient]]
    match event:
        case RequestSubmitted():
            facts, audience = {}, [("request_received", agency)]
        case RequestRouted():
            facts = {
                **_tier(event.tier),
                "provider_name": event.provider.name,
                "next_steps": NEXT_STEPS[event.tier],
                "escalated": event.escalated_from_engagement_id is not None,
            }
            audience = [
                ("request_routed_agency", agency),
                ("assignment_provider", _provider(event.provider, preferences)),
            ]
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
        case _:
            return []

    request_id: UUID | None = getattr(event, "request_id", None)
    engagement_id: UUID | None = getattr(event, "engagement_id", None)
    summary: AgencySummary | None = getattr(event, "agency", None)
    # The routing decision may flag confidentiality the submission did not: either one is enough to withhold.
    confidential = bool(request and request.confidential) or getattr(event, "confidential", False)
    common: dict[str, JsonValue] = {
        **facts,
        "request_id": str(request_id) if request_id else None,
        "engagement_id": str(engagement_id) if engagement_id else None,
        "agency_name": request.agency_name if request else (summary.name if summary else "(agency not on record)"),
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
                "request": _request_details(request, recipient.role, channel, confidential),
            },
        )
        for kind, recipient in audience
        for channel in preferences.channels_for(recipient, kind)
    ]


def _provider(provider: ProviderRef, preferences: Preferences) -> Recipient:
    return Recipient(
        role="provider",
        name=provider.name,
        email=provider.contact_email,
        webhook_url=preferences.provider_webhooks.get(provider.provider_id),
    )


def _tier(tier: Tier) -> dict[str, JsonValue]:
    return {"tier": tier.value, "tier_label": TIER_LABELS[tier]}


def _request_details(
    request: RequestFacts | None, role: Role, channel: Channel, confidential: bool
) -> dict[str, JsonValue] | None:
    """The request as this recipient, on this channel, may read it (the confidentiality rule lives here)."""
    if request is None:
        return None
    may_read_incident = not confidential or (channel == "email" and role in ("agency", "staff"))
    return {
        "agency_name": request.agency_name,
        "agency_type": request.agency_type.value,
        "agency_state": request.agency_state,
        "topic_areas": [topic.value.replace("_", " ") for topic in request.topic_areas],
        "urgency": request.urgency.value,
        "submitted_at": request.submitted_at.isoformat(),
        # The contact's name and address are personal data: email only, never a webhook.
        "contact": (
            {"name": request.contact_name, "title": request.contact_title, "email": request.contact_email}
            if channel == "email"
            else None
        ),
        "incident_summary": request.incident_summary if may_read_incident else None,
        "incident_withheld": request.incident_summary is not None and not may_read_incident,
    }


def _day(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment:%B} {moment.day}, {moment.year}"


# Subjects and plain text are not HTML: only .html templates escape what they print.
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATE_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # templates ship with the code: no stat() of the file at every render
)
_TEMPLATES.filters["day"] = _day


def render(notification: PlannedNotification) -> RenderedMessage:
    """Subject, plain text and HTML of one notification, from `templates/<kind>.{subject.txt,txt,html}`."""
    kind, context = notification.kind, notification.context
    try:
        # One line: agency-supplied text must not break the mail header (header injection).
        subject = " ".join(_TEMPLATES.get_template(f"{kind}.subject.txt").render(context).split())
        text = _TEMPLATES.get_template(f"{kind}.txt").render(context)
        html = _TEMPLATES.get_template(f"{kind}.html").render(context, subject=subject)
    except jinja2.TemplateNotFound as error:
        raise RenderError(f"{kind}: no template {error.name}") from error
    except Exception as error:  # a template is data: whatever breaks in it fails this one notification only
        raise RenderError(f"{kind}: {type(error).__name__}: {error}") from error
    return RenderedMessage(subject=subject, text=text, html=html)


def delivery_id(cause_event_id: UUID, recipient: Recipient, channel: Channel) -> UUID:
    """The same event, recipient and channel always give the same id: redelivered events send nothing twice."""
    address = (recipient.address(channel) or "").lower()
    return uuid5(_DELIVERY_NAMESPACE, f"{cause_event_id}|{recipient.role}|{channel}|{address}")


def webhook_body(notification: PlannedNotification, rendered: RenderedMessage) -> bytes:
    """Canonical JSON (sorted keys, no spaces) so that a signature covers exactly these bytes."""
    if notification.channel != "webhook":
        # Email contexts may hold confidential text; only webhook contexts were built to leave the building.
        raise ValueError(f"{notification.kind} was planned for {notification.channel}, not webhook")
    body = {
        "kind": notification.kind,
        "role": notification.recipient.role,
        "subject": rendered.subject,
        "text": rendered.text,
        "delivery_id": str(delivery_id(notification.cause_event_id, notification.recipient, "webhook")),
        "cause_event_id": str(notification.cause_event_id),
        "cause_event_type": notification.cause_event_type,
        "request_id": str(notification.request_id) if notification.request_id else None,
        "engagement_id": str(notification.engagement_id) if notification.engagement_id else None,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """Signature header value `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`."""
    return f"t={timestamp},v1={_mac(body, secret, timestamp)}"


def verify(body: bytes, header: str, secret: str, tolerance_s: float, now: float) -> bool:
    """True when `header` signs `body` with `secret` within `tolerance_s` of `now` (older ones may be replays)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp, signature = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature.encode(), _mac(body, secret, timestamp).encode())


def _mac(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def retry_delay(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry `attempt` (1 = the first retry): uniform in [0, min(cap, base * 2^(attempt-1))].

    Full jitter spreads the retries of many deliveries failing together instead of sending them back in a herd.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    ceiling = min(cap_s, base_s * 2 ** min(attempt - 1, 60))  # the exponent is clamped so huge attempts cannot overflow
    return rng.uniform(0, ceiling)
