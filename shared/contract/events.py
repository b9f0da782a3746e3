"""Every event of the system, versioned. Payloads are frozen pydantic models; `parse_event` reads any published
version as the reader's model: older ones upcast, newer ones read tolerantly (the versions of an event are FULL
compatible, shared/contract/schemas.py), so old events stay readable and old readers keep reading."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError

from shared.contract import topics
from shared.contract.envelope import Envelope, EventData
from shared.contract.privacy import CONFIDENTIAL, PERSONAL
from shared.contract.requests import Agency, AssistanceRequested, Contact, LongText, RequestForAssistance
from shared.contract.validation import describe
from shared.contract.vocabulary import AgencyType, Tier, TopicArea, Urgency


class AgencySummary(BaseModel):
    """What downstream consumers need to know about an agency: no contact person, no incident text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: AgencyType
    state: str
    sheriff_office: bool = False
    sworn_officers: int
    population_served: int

    @classmethod
    def of(cls, agency: Agency) -> "AgencySummary":
        return cls(**agency.model_dump(exclude={"ori"}))


class ProviderRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_id: str = Field(examples=["iacp"])
    name: str = Field(examples=["International Association of Chiefs of Police"])
    contact_email: str | None = Field(default=None, description="The provider's program mailbox.")


class ProviderScore(BaseModel):
    """One provider of the tier as the routing policy weighed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_id: str = Field(examples=["iacp"])
    score: float = Field(
        description="Expertise in the topics, fit with the agency's profile and room, weighted by the tier's policy; "
        "higher is better.",
        examples=[0.8],
    )
    has_room: bool = Field(description="The provider had a free place when the request was decided.")
    reasons: list[str] = Field(
        description="How the score was made, one line a criterion.",
        examples=[["expertise: 1 of 1 topics (de_escalation)", "profile: 0 of 1", "room: 7 of 8"]],
    )


class _RequestEvent(EventData):
    topic = topics.REQUESTS.name
    request_id: UUID

    def partition_key(self) -> str:
        return str(self.request_id)


class RequestReceived(_RequestEvent):
    """Intake accepted a request for assistance. Its contact person is not here (every service reads this topic,
    and routing decides without it): intake publishes it at the same time in `RequestContactGiven`."""

    event_type = "RequestReceived"
    event_version = 1
    submitted_at: datetime
    channel: Literal["http", "kafka"]
    request: AssistanceRequested  # type: ignore[valid-type]


class RequestContactGiven(EventData):
    """The contact person of a request just received, on `cri.requests.contacts`: read only by the services that
    address the agency (engagements, notify), kept 30 days. Either of the two events can arrive first."""

    topic = topics.REQUEST_CONTACTS.name
    event_type = "RequestContactGiven"
    event_version = 1
    request_id: UUID
    contact: Contact

    def partition_key(self) -> str:
        return str(self.request_id)


# No longer published: it carried the contact person on a topic every service reads; RequestReceived and
# RequestContactGiven replace it. Its events stay on cri.requests for the topic's retention, and readers apply one
# as its two parts. (The docstring is its published schema's description: it stays as published.)
class RequestSubmitted(_RequestEvent):
    """Intake accepted a request for assistance."""

    event_type = "RequestSubmitted"
    event_version = 1
    submitted_at: datetime
    channel: Literal["http", "kafka"]
    request: RequestForAssistance

    def parts(self) -> tuple[RequestReceived, RequestContactGiven]:
        received = RequestReceived(
            request_id=self.request_id,
            submitted_at=self.submitted_at,
            channel=self.channel,
            request=self.request.without_contact(),
        )
        return received, RequestContactGiven(request_id=self.request_id, contact=self.request.contact)


class RequestRouted(_RequestEvent):
    """A request was given a tier and a provider, by the policy or by program staff."""

    event_type = "RequestRouted"
    event_version = 2
    tier: Tier
    provider: ProviderRef
    decided_by: Literal["policy", "staff"]
    policy_version: str | None = None
    rules_fired: list[str] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="Staff's reason for an override.")
    agency: AgencySummary
    urgency: Urgency
    topic_areas: list[TopicArea] = Field(default_factory=list)
    confidential: bool = Field(default=False, description="The agency asked for confidentiality.")
    escalated_from_engagement_id: UUID | None = None
    routed_at: datetime
    # Version 2: the decision explained in fields a page can show (version 1 had only the rules' names).
    candidate_tiers: list[Tier] = Field(
        default_factory=list,
        description="The tiers whose rules fired, by the policy's precedence: the first is `tier`, the others the "
        "continuum steps staff may weigh. Only `tier` when staff, a queue or an escalation decided.",
        examples=[["critical_response", "cri_tac"]],
    )
    providers_scored: list[ProviderScore] = Field(
        default_factory=list,
        description="The tier's providers active that day, best first, as the policy weighed them; the first is "
        "`provider` when the policy decided. Empty when staff decided, and in events published as version 1.",
    )

    @staticmethod
    def upcast_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
        """Version 1 named the rules that fired (`<tier>.<rule>`), not the tiers: they are read from the rules'
        names, the tier given first. Which providers were weighed, version 1 did not say."""
        named = (rule.split(".", 1)[0] for rule in data.get("rules_fired", []))
        tiers = [data.get("tier"), *(name for name in named if name in set(Tier))]
        return {**data, "candidate_tiers": list(dict.fromkeys(tiers))}


class RequestNeedsReview(_RequestEvent):
    """The policy could not decide with confidence; program staff must route the request by hand."""

    event_type = "RequestNeedsReview"
    event_version = 1
    reasons: list[str]
    candidate_tiers: list[Tier] = Field(default_factory=list)
    policy_version: str
    agency: AgencySummary


class RequestQueued(_RequestEvent):
    """A tier was decided but no provider has room; the request waits for capacity."""

    event_type = "RequestQueued"
    event_version = 1
    tier: Tier
    reason: str
    queued_at: datetime


class RequestWithdrawn(_RequestEvent):
    """The agency withdrew its request before it reached an engagement. Routing takes a request waiting for
    review or capacity out of its queue; a request it has already given a provider keeps its place (the
    engagement opens and is closed with the provider), and notify tells that provider."""

    event_type = "RequestWithdrawn"
    event_version = 1
    withdrawn_at: datetime
    withdrawn_by: Annotated[str, PERSONAL] = Field(
        description="Email address of the agency person who withdrew the request (signed in).",
        examples=["jlee@springfield.example.gov"],
    )
    status_seen: str = Field(
        description="The request's status as intake knew it when the agency withdrew it.",
        examples=["queued"],
    )
    reason: Annotated[LongText | None, CONFIDENTIAL] = Field(
        default=None, description="The agency's own words, when it gave any."
    )


class _EngagementEvent(EventData):
    topic = topics.ENGAGEMENTS.name
    engagement_id: UUID
    request_id: UUID

    def partition_key(self) -> str:
        return str(self.engagement_id)


class EngagementOpened(_EngagementEvent):
    event_type = "EngagementOpened"
    event_version = 1
    tier: Tier
    provider: ProviderRef
    agency: AgencySummary
    opened_at: datetime
    escalated_from_engagement_id: UUID | None = None


class MilestoneReached(_EngagementEvent):
    event_type = "MilestoneReached"
    event_version = 1
    tier: Tier
    milestone: str
    reached_at: datetime
    note: str | None = None
    recorded_by: Annotated[str, PERSONAL]


class EngagementStatusChanged(_EngagementEvent):
    event_type = "EngagementStatusChanged"
    event_version = 1
    from_status: str
    to_status: str
    changed_at: datetime


class DeadlineMissed(_EngagementEvent):
    event_type = "DeadlineMissed"
    event_version = 1
    tier: Tier
    provider: ProviderRef
    milestone: str = Field(description="The milestone that was due.")
    due_at: datetime
    detected_at: datetime


class EngagementEscalated(_EngagementEvent):
    """An engagement moved along the continuum; routing assigns the new tier's provider."""

    event_type = "EngagementEscalated"
    event_version = 1
    from_tier: Tier
    to_tier: Tier
    reason: str
    escalated_by: Annotated[str, PERSONAL]
    agency: AgencySummary
    urgency: Urgency
    escalated_at: datetime


class EngagementClosed(_EngagementEvent):
    event_type = "EngagementClosed"
    event_version = 1
    tier: Tier
    provider: ProviderRef
    outcome: str
    closed_at: datetime


class EngagementSnapshot(EventData):
    """Latest state of one engagement, for dashboards (compacted topic). No personal contact data."""

    topic = topics.ENGAGEMENT_STATE.name
    event_type = "EngagementSnapshot"
    event_version = 1
    engagement_id: UUID
    request_id: UUID
    tier: Tier
    provider: ProviderRef
    agency: AgencySummary
    status: str
    milestones: list[str]
    opened_at: datetime
    first_contact_at: datetime | None = None
    closed_at: datetime | None = None
    overdue: bool = False
    version: int

    def partition_key(self) -> str:
        return str(self.engagement_id)


class _NotificationEvent(EventData):
    topic = topics.NOTIFICATIONS.name
    delivery_id: UUID
    request_id: UUID | None
    cause_event_id: UUID
    cause_event_type: str
    recipient_role: Literal["agency", "provider", "staff"]
    channel: Literal["email", "webhook"]
    attempts: int

    def partition_key(self) -> str:
        return str(self.request_id or self.delivery_id)


class NotificationSent(_NotificationEvent):
    event_type = "NotificationSent"
    event_version = 1
    sent_at: datetime


class NotificationFailed(_NotificationEvent):
    event_type = "NotificationFailed"
    event_version = 1
    # Notify's own words (an SMTP code, "webhook unreachable"), never the server's answer, which may name the
    # recipient: notify's delivery log keeps that.
    reason: str
    permanent: bool
    failed_at: datetime


class _LinkEmail(EventData):
    """A link intake asks notify to email to one person; the token in it is single use, and only intake keeps
    its hash."""

    topic = topics.PEOPLE_LINKS.name
    link_id: UUID = Field(description="Identifies this link (never its token); one email per link.")
    email: Annotated[EmailStr, PERSONAL] = Field(
        description="Where to send the link.", examples=["jlee@springfield.example.gov"]
    )
    name: Annotated[str, PERSONAL] = Field(description="How the email greets the person.", examples=["Jordan Lee"])
    expires_at: datetime = Field(description="After this the link does nothing.")
    requested_at: datetime

    def partition_key(self) -> str:
        return str(self.link_id)


class SignInLinkRequested(_LinkEmail):
    """A person asked to sign in with an address intake knows: notify emails them the link. Asking with an
    unknown address publishes nothing (and the person sees the same page)."""

    event_type = "SignInLinkRequested"
    event_version = 1
    role: Literal["agency", "provider", "staff"] = Field(description="The role the link signs the person in as.")
    url: str = Field(
        description="The sign-in link, carrying its single-use token; opening it leads to a page with a button "
        "that signs in.",
        examples=["https://cri.example.gov/sign-in/link?token=..."],
    )


class SubmissionConfirmationRequested(_LinkEmail):
    """Someone not signed in sent the request form: notify emails its contact address the link that confirms
    the address and sends the request. Until the link is used, no other service sees the request."""

    event_type = "SubmissionConfirmationRequested"
    event_version = 1
    agency_name: str = Field(description="The agency the request is for.", examples=["Springfield Police Department"])
    url: str = Field(
        description="The confirmation link, carrying its single-use token; opening it shows the request with a "
        "button that sends it.",
        examples=["https://cri.example.gov/requests/confirm/..."],
    )


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    loc: list[str | int]
    msg: str
    type: str


class SubmissionRejected(EventData):
    """Answer to an invalid inbound submission."""

    topic = topics.INBOUND_REJECTIONS.name
    event_type = "SubmissionRejected"
    event_version = 1
    submission_key: str | None
    publisher_correlation_id: str | None
    errors: list[FieldError]
    rejected_at: datetime

    def partition_key(self) -> str:
        return self.submission_key or self.publisher_correlation_id or "unkeyed"


class DeadLettered(EventData):
    """A message a consumer could not decode, validate or apply, kept whole with the reason."""

    topic = topics.DEAD_LETTERS.name
    event_type = "DeadLettered"
    event_version = 1
    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    # Copies of the original record: whatever it carried (a RequestContactGiven's contact, say).
    original_key_b64: Annotated[str | None, PERSONAL]
    original_value_b64: Annotated[str | None, PERSONAL]
    original_headers: Annotated[dict[str, str], PERSONAL]
    reason: str
    dead_lettered_at: datetime
    original_size: int | None = Field(default=None, description="Size in bytes of the original value.")
    truncated: bool = Field(default=False, description="Only the first bytes of a huge original value are kept.")

    def partition_key(self) -> str:
        return f"{self.source_topic}/{self.source_partition}/{self.source_offset}"


EVENT_MODELS: dict[str, type[EventData]] = {
    model.event_type: model
    for model in (
        RequestSubmitted,
        RequestReceived,
        RequestContactGiven,
        RequestRouted,
        RequestNeedsReview,
        RequestQueued,
        RequestWithdrawn,
        EngagementOpened,
        MilestoneReached,
        EngagementStatusChanged,
        DeadlineMissed,
        EngagementEscalated,
        EngagementClosed,
        EngagementSnapshot,
        NotificationSent,
        NotificationFailed,
        SubmissionRejected,
        SignInLinkRequested,
        SubmissionConfirmationRequested,
        DeadLettered,
    )
}


class UnknownEvent(ValueError):
    """The envelope names a type this code does not know, or a newer version it cannot read."""


class NewerVersion(UnknownEvent):
    """A version newer than the reader's that does not read as the reader's: it waits for an upgraded reader."""


def parse_event(envelope: Envelope, model: type[EventData] | None = None) -> EventData:
    """The payload as `model` (by default today's model of its type), read tolerantly: fields the model does not
    know are ignored (producers stay strict: the models forbid unknown fields when they are built).

    An older version is brought up to the model's by the upcasters beside the model (`upcast_v1_v2`...), where a
    version derives its values from an older one's; otherwise the defaults of the fields it added read it. A newer
    version is read as the model's own, which FULL compatibility of the published versions guarantees; one that
    does not read raises NewerVersion."""
    model = model or EVENT_MODELS.get(envelope.type)
    if model is None:
        raise UnknownEvent(f"unknown event type {envelope.type!r}")
    data = envelope.data
    for version in range(envelope.version, model.event_version):
        upcast = getattr(model, f"upcast_v{version}_v{version + 1}", None)
        if upcast is not None:
            data = upcast(data)
    try:
        return model.model_validate(data, extra="ignore")
    except ValidationError as exc:
        if envelope.version > model.event_version:
            raise NewerVersion(
                f"{envelope.type} version {envelope.version} is newer than this consumer reads "
                f"({model.event_version}) and does not read as it: {describe(exc, limit=3)}"
            ) from exc
        raise
