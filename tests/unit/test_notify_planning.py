"""Who hears what about each event, with which request facts."""

import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.notify.domain.planning import PlannedNotification, plan_notifications
from services.notify.domain.preferences import Preferences
from services.notify.domain.recipients import Recipient
from services.notify.domain.request_facts import Addressee, RequestDescription, RequestFacts
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import (
    AgencySummary,
    DeadlineMissed,
    EngagementClosed,
    EngagementEscalated,
    EngagementOpened,
    EngagementStatusChanged,
    MilestoneReached,
    NotificationSent,
    ProviderRef,
    RequestContactGiven,
    RequestNeedsReview,
    RequestQueued,
    RequestReceived,
    RequestRouted,
)
from shared.contract.requests import Agency, AssistanceRequested, AssistanceWanted, Contact, Incident
from shared.contract.vocabulary import AgencyType, Tier, TopicArea, Urgency

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
INCIDENT = "Officer-involved shooting at a traffic stop on Elm Street; the family has not yet been told."
STAFF = Recipient(
    role="staff", name="CRI program staff", email="cri@cops.example.gov", webhook_url="https://hooks.example/cri"
)
PROVIDER = ProviderRef(provider_id="npi", name="National Policing Institute", contact_email="cri@npi.example.org")
NO_PREFERENCES = Preferences()


CONTACT = Contact(
    name="Jordan Lee", title="Chief of Police", email="jlee@springfield.example.gov", phone="+1 217-555-0100"
)


def received(agency_name="Springfield Police Department", *, incident=INCIDENT, confidential=False, assistance=()):
    return RequestReceived(
        request_id=uuid4(),
        submitted_at=NOW,
        channel="http",
        request=AssistanceRequested(
            agency=Agency(
                name=agency_name, type=AgencyType.LOCAL, state="IL", sworn_officers=120, population_served=115_000
            ),
            assistance=AssistanceWanted(topic_areas=[TopicArea.DE_ESCALATION], description="After-action review."),
            incident=Incident(
                summary=incident, occurred_on=date(2026, 2, 20), confidential=confidential, assistance=list(assistance)
            )
            if incident
            else None,
            urgency=Urgency.URGENT,
        ),
    )


def contact_given(event: RequestReceived, contact: Contact = CONTACT) -> RequestContactGiven:
    return RequestContactGiven(request_id=event.request_id, contact=contact)


def facts_of(event: RequestReceived, contact: Contact = CONTACT) -> RequestFacts:
    """What notify has on record once both the request and its contact person have come."""
    return RequestFacts(**RequestDescription.of(event).model_dump(), **Addressee.of(contact).model_dump())


def facts(**kwargs) -> RequestFacts:
    return facts_of(received(**kwargs))


def summary(request: RequestFacts) -> AgencySummary:
    return AgencySummary(
        name=request.agency_name,
        type=request.agency_type,
        state=request.agency_state,
        sworn_officers=120,
        population_served=115_000,
    )


def routed(request: RequestFacts, *, tier=Tier.CRITICAL_RESPONSE, provider=PROVIDER, confidential=False):
    return RequestRouted(
        request_id=request.request_id,
        tier=tier,
        provider=provider,
        decided_by="policy",
        agency=summary(request),
        urgency=request.urgency,
        confidential=confidential,
        routed_at=NOW,
    )


def needs_review(request: RequestFacts) -> RequestNeedsReview:
    return RequestNeedsReview(
        request_id=request.request_id,
        reasons=["incident and systemic concerns both present"],
        candidate_tiers=[Tier.CRITICAL_RESPONSE, Tier.ORGANIZATIONAL_ASSESSMENT],
        policy_version="2026.1",
        agency=summary(request),
    )


def queued(request: RequestFacts) -> RequestQueued:
    return RequestQueued(request_id=request.request_id, tier=Tier.CRI_TAC, reason="no capacity", queued_at=NOW)


def opened(request: RequestFacts) -> EngagementOpened:
    return EngagementOpened(
        engagement_id=uuid4(),
        request_id=request.request_id,
        tier=Tier.CRITICAL_RESPONSE,
        provider=PROVIDER,
        agency=summary(request),
        opened_at=NOW,
    )


def deadline_missed(request: RequestFacts) -> DeadlineMissed:
    return DeadlineMissed(
        engagement_id=uuid4(),
        request_id=request.request_id,
        tier=Tier.CRITICAL_RESPONSE,
        provider=PROVIDER,
        milestone="first_contact",
        due_at=NOW - timedelta(days=3),
        detected_at=NOW,
    )


def escalated(request: RequestFacts) -> EngagementEscalated:
    return EngagementEscalated(
        engagement_id=uuid4(),
        request_id=request.request_id,
        from_tier=Tier.CRI_TAC,
        to_tier=Tier.ORGANIZATIONAL_ASSESSMENT,
        reason="systemic issues surfaced",
        escalated_by="staff:akim",
        agency=summary(request),
        urgency=Urgency.PRIORITY,
        escalated_at=NOW,
    )


def closed(request: RequestFacts) -> EngagementClosed:
    return EngagementClosed(
        engagement_id=uuid4(),
        request_id=request.request_id,
        tier=Tier.CRITICAL_RESPONSE,
        provider=PROVIDER,
        outcome="completed",
        closed_at=NOW,
    )


def plan(event: EventData, request: RequestFacts | None, preferences: Preferences = NO_PREFERENCES):
    envelope = Envelope.wrap(event, source="test", correlation_id=str(uuid4()))
    return plan_notifications(envelope, event, request=request, staff=STAFF, preferences=preferences)


def who(planned: list[PlannedNotification]) -> set[tuple[str, str, str]]:
    return {(p.kind, p.recipient.role, p.channel) for p in planned}


def only(planned: list[PlannedNotification], kind: str, channel: str = "email") -> PlannedNotification:
    [found] = [p for p in planned if p.kind == kind and p.channel == channel]
    return found


# Who hears what


def test_a_received_request_is_acknowledged_to_its_contact_person():
    event = received()
    [ack] = plan(event, facts_of(event))
    assert (ack.kind, ack.recipient.role, ack.address) == ("request_received", "agency", "jlee@springfield.example.gov")


def test_a_routed_request_tells_the_agency_where_it_went_and_the_provider_of_its_assignment():
    request = facts()
    planned = plan(routed(request), request)
    assert who(planned) == {("request_routed_agency", "agency", "email"), ("assignment_provider", "provider", "email")}
    assert only(planned, "assignment_provider").address == "cri@npi.example.org"


def test_a_request_needing_review_goes_to_staff_by_email_and_webhook():
    request = facts()
    assert who(plan(needs_review(request), request)) == {
        ("review_needed_staff", "staff", "email"),
        ("review_needed_staff", "staff", "webhook"),
    }


def test_a_queued_request_tells_the_agency_it_waits():
    request = facts()
    assert who(plan(queued(request), request)) == {("request_queued_agency", "agency", "email")}


def test_an_opened_engagement_tells_the_agency_only_because_the_provider_heard_at_routing():
    request = facts()
    assert who(plan(opened(request), request)) == {("engagement_opened_agency", "agency", "email")}


def test_a_missed_deadline_tells_staff_and_the_provider():
    request = facts()
    assert who(plan(deadline_missed(request), request)) == {
        ("deadline_missed_staff", "staff", "email"),
        ("deadline_missed_staff", "staff", "webhook"),
        ("deadline_missed_provider", "provider", "email"),
    }


def test_an_escalated_engagement_tells_staff():
    request = facts()
    assert who(plan(escalated(request), request)) == {
        ("engagement_escalated", "staff", "email"),
        ("engagement_escalated", "staff", "webhook"),
    }


def test_a_closed_engagement_tells_the_agency():
    request = facts()
    assert who(plan(closed(request), request)) == {("engagement_closed_agency", "agency", "email")}


@pytest.mark.parametrize(
    "make",
    [
        lambda r: MilestoneReached(
            engagement_id=uuid4(),
            request_id=r.request_id,
            tier=Tier.CRI_TAC,
            milestone="first_contact",
            reached_at=NOW,
            recorded_by="npi",
        ),
        lambda r: EngagementStatusChanged(
            engagement_id=uuid4(), request_id=r.request_id, from_status="open", to_status="active", changed_at=NOW
        ),
        lambda r: NotificationSent(
            delivery_id=uuid4(),
            request_id=r.request_id,
            cause_event_id=uuid4(),
            cause_event_type="RequestRouted",
            recipient_role="agency",
            channel="email",
            attempts=1,
            sent_at=NOW,
        ),
    ],
    ids=["milestone", "status-change", "notification-sent"],
)
def test_events_without_an_audience_plan_nothing(make):
    request = facts()
    assert plan(make(request), request) == []


def test_an_agency_whose_request_is_not_on_record_is_still_planned_without_an_address():
    [notice] = plan(closed(facts()), request=None)
    assert (notice.recipient.role, notice.address) == ("agency", None)


def test_a_provider_without_a_mailbox_is_still_planned_without_an_address():
    request = facts()
    mailboxless = ProviderRef(provider_id="new", name="New Provider")
    assert only(plan(routed(request, provider=mailboxless), request), "assignment_provider").address is None


def test_template_contexts_are_plain_json():
    request = facts()
    for event in (routed(request), needs_review(request), deadline_missed(request), escalated(request)):
        for planned in plan(event, request):
            assert json.loads(json.dumps(planned.context)) == planned.context


def test_request_facts_survive_a_json_round_trip():
    request = facts(confidential=True)
    assert RequestFacts.model_validate_json(request.model_dump_json()) == request
