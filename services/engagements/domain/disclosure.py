"""What of a request each reader of an engagement may see (pure rules).

Engagements keeps each request as submitted (from `RequestReceived`, and its contact person from `RequestContactGiven`),
because the provider must read what it was asked to do and reach the agency. The rule applied before a page is built, so
no template can show what its view does not hold:

- the incident summary: staff always; the provider of a Critical Response engagement always (reviewing the
  incident is the work it was assigned); any other provider only when the request is not confidential (the
  agency asked for it, or routing flagged it);
- the agency's contact person: staff always; the provider only while the engagement is open (it needs them to
  reach the agency, and no longer once the work is over);
- everything else the agency wrote (what help, when, long-standing concerns) to both.
"""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.contract.requests import AssistanceRequested, Contact, SystemicConcerns
from shared.contract.vocabulary import CriticalAssistance, DeliveryMode, Tier, TopicArea, Urgency

# Who reads an engagement's page: program staff, or the provider the engagement is assigned to.
Reader = Literal["staff", "provider"]


class IncidentView(BaseModel):
    model_config = ConfigDict(frozen=True)

    occurred_on: date
    high_profile: bool
    major_incident: bool
    confidential: bool
    assistance: list[CriticalAssistance]
    summary: str | None  # None: withheld from this reader


class RequestView(BaseModel):
    """The request as one reader may see it."""

    model_config = ConfigDict(frozen=True)

    description: str
    topic_areas: list[TopicArea]
    delivery_modes: list[DeliveryMode]
    desired_start: date | None
    desired_end: date | None
    urgency: Urgency
    ori: str | None
    contact: Contact | None  # None: not shown to this reader now, or not come yet
    contact_withheld: bool
    incident: IncidentView | None
    concerns: SystemicConcerns | None

    @property
    def incident_withheld(self) -> bool:
        return self.incident is not None and self.incident.summary is None


def is_confidential(request: AssistanceRequested, flagged_by_routing: bool) -> bool:
    """Either the agency's own flag or routing's is enough to withhold."""
    return flagged_by_routing or bool(request.incident and request.incident.confidential)


def may_read_incident(reader: Reader, tier: Tier, confidential: bool) -> bool:
    return reader == "staff" or tier is Tier.CRITICAL_RESPONSE or not confidential


def may_read_contact(reader: Reader, engagement_open: bool) -> bool:
    return reader == "staff" or engagement_open


def readable_request(
    request: AssistanceRequested,
    contact: Contact | None,
    *,
    reader: Reader,
    tier: Tier,
    flagged_by_routing: bool,
    engagement_open: bool,
) -> RequestView:
    """`request` and its `contact` (None until it has come) as `reader` (staff, or the engagement's own provider)
    may see them on the engagement's page."""
    incident = None
    if found := request.incident:
        confidential = is_confidential(request, flagged_by_routing)
        incident = IncidentView(
            occurred_on=found.occurred_on,
            high_profile=found.high_profile,
            major_incident=found.major_incident,
            confidential=confidential,
            assistance=list(found.assistance),
            summary=found.summary if may_read_incident(reader, tier, confidential) else None,
        )
    contact_shown = may_read_contact(reader, engagement_open)
    return RequestView(
        description=request.assistance.description,
        topic_areas=list(request.assistance.topic_areas),
        delivery_modes=list(request.assistance.delivery_modes),
        desired_start=request.assistance.desired_start,
        desired_end=request.assistance.desired_end,
        urgency=request.urgency,
        ori=request.agency.ori,
        contact=contact if contact_shown else None,
        contact_withheld=not contact_shown,
        incident=incident,
        concerns=request.systemic_concerns,
    )
