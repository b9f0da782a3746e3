"""What notify keeps of a request, to address and describe the messages about it: from its RequestReceived (the
description) and its RequestContactGiven (whom to write to), which come on two topics in either order."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contract.events import ProviderRef, RequestReceived
from shared.contract.requests import Contact
from shared.contract.vocabulary import AgencyType, CriticalAssistance, TopicArea, Urgency


class RequestDescription(BaseModel):
    """The free-text description of the assistance wanted is deliberately not kept: an agency asking for
    confidentiality may well repeat the incident there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: UUID
    agency_name: str
    agency_type: AgencyType
    agency_state: str
    topic_areas: tuple[TopicArea, ...]
    urgency: Urgency
    confidential: bool
    incident_summary: str | None
    submitted_at: datetime
    # Kept as they happen, for the race of a withdrawal with routing: the provider hears of the withdrawal in
    # whichever order the two events come.
    provider: ProviderRef | None = Field(default=None, description="The provider the request was last routed to.")
    withdrawn_at: datetime | None = Field(default=None, description="When the agency withdrew the request.")

    @classmethod
    def of(cls, event: RequestReceived) -> "RequestDescription":
        request, incident = event.request, event.request.incident
        return cls(
            request_id=event.request_id,
            agency_name=request.agency.name,
            agency_type=request.agency.type,
            agency_state=request.agency.state,
            topic_areas=tuple(request.assistance.topic_areas),
            urgency=request.urgency,
            # Asking for a confidential consultation is read as asking for confidentiality: when in doubt, withhold.
            confidential=incident is not None
            and (incident.confidential or CriticalAssistance.CONFIDENTIAL_CONSULTATION in incident.assistance),
            incident_summary=incident.summary if incident else None,
            submitted_at=event.submitted_at,
        )


class Addressee(BaseModel):
    """Whom to write to about a request: its contact person, without the phone number notify has no use for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_name: str
    contact_title: str
    contact_email: str

    @classmethod
    def of(cls, contact: Contact) -> "Addressee":
        return cls(contact_name=contact.name, contact_title=contact.title, contact_email=contact.email)


class RequestFacts(RequestDescription, Addressee):
    """A request notify can write about: described and addressed."""
