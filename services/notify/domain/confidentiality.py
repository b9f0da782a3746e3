"""The confidentiality rule: what of a request each recipient may read, on each channel.

The incident summary reaches the agency that wrote it and program staff, by email. Providers and every webhook
(chat rooms and logs: broadcast in practice) get it only when the request is not confidential, and webhooks never
carry the agency contact's personal details. A request is confidential when its submission says so
(`RequestFacts.confidential`) or when routing flags it. The rule is applied where the template context is built,
so no template can print what its context does not hold.
"""

from pydantic import JsonValue

from services.notify.domain.recipients import Channel, Role
from services.notify.domain.request_facts import RequestFacts
from shared.contract.envelope import EventData


def is_confidential(request: RequestFacts | None, event: EventData) -> bool:
    # The routing decision may flag confidentiality the submission did not: either one is enough to withhold.
    return bool(request and request.confidential) or getattr(event, "confidential", False)


def readable_request(
    request: RequestFacts | None, role: Role, channel: Channel, confidential: bool
) -> dict[str, JsonValue] | None:
    """The request as this recipient, on this channel, may read it."""
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
