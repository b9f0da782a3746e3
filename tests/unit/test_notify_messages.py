"""The notification domain: who hears what, what they may read, how it is rendered, signed and retried."""

import json
import random
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.messages import (
    PlannedNotification,
    Preferences,
    Recipient,
    RecipientPreferences,
    RenderError,
    RequestFacts,
    delivery_id,
    plan_notifications,
    render,
    retry_delay,
    sign,
    verify,
    webhook_body,
)
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
    RequestNeedsReview,
    RequestQueued,
    RequestRouted,
    RequestSubmitted,
)
from shared.contract.requests import Agency, AssistanceWanted, Contact, Incident, RequestForAssistance
from shared.contract.vocabulary import AgencyType, CriticalAssistance, Tier, TopicArea, Urgency

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
INCIDENT = "Officer-involved shooting at a traffic stop on Elm Street; the family has not yet been told."
STAFF = Recipient(
    role="staff", name="CRI program staff", email="cri@cops.example.gov", webhook_url="https://hooks.example/cri"
)
PROVIDER = ProviderRef(provider_id="npi", name="National Policing Institute", contact_email="cri@npi.example.org")
NO_PREFERENCES = Preferences()


def submitted(agency_name="Springfield Police Department", *, incident=INCIDENT, confidential=False, assistance=()):
    return RequestSubmitted(
        request_id=uuid4(),
        submitted_at=NOW,
        channel="http",
        request=RequestForAssistance(
            agency=Agency(
                name=agency_name, type=AgencyType.LOCAL, state="IL", sworn_officers=120, population_served=115_000
            ),
            contact=Contact(
                name="Jordan Lee",
                title="Chief of Police",
                email="jlee@springfield.example.gov",
                phone="+1 217-555-0100",
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


def facts(**kwargs) -> RequestFacts:
    return RequestFacts.from_submitted(submitted(**kwargs))


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


def test_a_submitted_request_is_acknowledged_to_the_agency_contact_even_before_its_facts_are_stored():
    event = submitted()
    [ack] = plan(event, request=None)
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


# Confidentiality


def test_the_provider_never_reads_a_confidential_incident():
    request = facts(confidential=True)
    assignment = only(plan(routed(request), request), "assignment_provider")
    message = render(assignment)
    assert INCIDENT not in message.text + message.html + json.dumps(assignment.context)
    assert "confidential" in message.text


def test_a_webhook_never_carries_a_confidential_incident_even_to_staff():
    request = facts(confidential=True)
    hook = only(plan(needs_review(request), request), "review_needed_staff", "webhook")
    assert INCIDENT not in webhook_body(hook, render(hook)).decode()


def test_a_webhook_never_carries_the_agency_contact():
    request = facts()
    hook = only(plan(needs_review(request), request), "review_needed_staff", "webhook")
    body = webhook_body(hook, render(hook)).decode()
    assert "jlee@springfield.example.gov" not in body and "Jordan Lee" not in body


def test_staff_read_a_confidential_incident_by_email():
    request = facts(confidential=True)
    message = render(only(plan(needs_review(request), request), "review_needed_staff"))
    assert INCIDENT in message.text and INCIDENT in message.html


def test_the_agency_reads_its_own_confidential_incident_in_the_acknowledgement():
    event = submitted(confidential=True)
    [ack] = plan(event, request=None)
    assert INCIDENT in render(ack).text


def test_the_provider_reads_an_incident_that_is_not_confidential():
    request = facts(confidential=False)
    assert INCIDENT in render(only(plan(routed(request), request), "assignment_provider")).text


def test_asking_for_a_confidential_consultation_makes_the_incident_confidential():
    assert facts(assistance=[CriticalAssistance.CONFIDENTIAL_CONSULTATION]).confidential


def test_a_routing_decision_flagged_confidential_withholds_the_incident_from_the_provider():
    request = facts(confidential=False)
    assignment = only(plan(routed(request, confidential=True), request), "assignment_provider")
    assert INCIDENT not in render(assignment).text


def test_a_webhook_body_is_refused_for_an_email_notification():
    request = facts(confidential=True)
    email = only(plan(needs_review(request), request), "review_needed_staff")
    with pytest.raises(ValueError):
        webhook_body(email, render(email))


# Rendering


@pytest.mark.parametrize(
    "make", [routed, needs_review, queued, opened, deadline_missed, escalated, closed], ids=lambda make: make.__name__
)
def test_every_planned_message_renders_subject_text_and_html(make):
    request = facts()
    for planned in plan(make(request), request):
        message = render(planned)
        assert message.subject and "\n" not in message.subject
        assert "Hello" in message.text and str(request.request_id) in message.text
        assert message.html.startswith("<!DOCTYPE html>") and message.subject.split(":")[0] in message.html


@pytest.mark.parametrize(
    "make", [routed, needs_review, queued, opened, deadline_missed, escalated, closed], ids=lambda make: make.__name__
)
def test_every_planned_message_renders_when_the_request_is_not_on_record(make):
    for planned in plan(make(facts()), request=None):
        assert str(planned.request_id) in render(planned).text


def test_routed_messages_name_the_agency_the_tier_and_the_provider_in_text_and_html():
    request = facts()
    for planned in plan(routed(request), request):
        message = render(planned)
        for part in (message.text, message.html):
            assert "Springfield Police Department" in part
            assert "Critical Response" in part
            assert "National Policing Institute" in part


def test_the_agency_learns_the_next_steps_of_its_tier():
    request = facts()
    message = render(only(plan(routed(request, tier=Tier.ORGANIZATIONAL_ASSESSMENT), request), "request_routed_agency"))
    assert "a year or more" in message.text


def test_html_escapes_agency_supplied_text():
    request = facts(agency_name="<script>alert('x')</script> PD")
    message = render(only(plan(routed(request), request), "request_routed_agency"))
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "<script>alert('x')</script> PD" in message.text


def test_a_subject_stays_one_line_whatever_the_agency_name_holds():
    request = facts(agency_name="Springfield PD\r\nBcc: everyone@example.com")
    subject = render(only(plan(routed(request), request), "request_routed_agency")).subject
    assert "\r" not in subject and "\n" not in subject


def test_a_kind_without_templates_is_a_render_error():
    request = facts()
    planned = only(plan(closed(request), request), "engagement_closed_agency")
    with pytest.raises(RenderError, match="no_such_kind"):
        render(planned.model_copy(update={"kind": "no_such_kind"}))


def test_a_variable_missing_from_the_context_is_a_render_error():
    request = facts()
    planned = only(plan(closed(request), request), "engagement_closed_agency")
    broken = planned.model_copy(update={"context": {k: v for k, v in planned.context.items() if k != "outcome"}})
    with pytest.raises(RenderError, match="outcome"):
        render(broken)


# Preferences


def test_by_default_everyone_gets_email_and_webhook_goes_where_a_url_exists():
    mail_only = Recipient(role="staff", name="Staff", email="staff@example.gov")
    assert NO_PREFERENCES.channels_for(mail_only, "review_needed_staff") == ["email"]
    assert NO_PREFERENCES.channels_for(STAFF, "review_needed_staff") == ["email", "webhook"]


def test_an_opted_out_kind_is_not_planned_for_that_recipient():
    request = facts()
    staff_opted_out = RecipientPreferences(opted_out=frozenset({"deadline_missed_staff"}))
    planned = plan(deadline_missed(request), request, Preferences(by_address={STAFF.email: staff_opted_out}))
    assert who(planned) == {("deadline_missed_provider", "provider", "email")}


def test_channel_preferences_limit_the_channels():
    request = facts()
    preferences = Preferences(by_address={STAFF.email: RecipientPreferences(channels=frozenset({"webhook"}))})
    assert who(plan(needs_review(request), request, preferences)) == {("review_needed_staff", "staff", "webhook")}


def test_preferences_match_an_email_address_whatever_its_case():
    request = facts()
    agency_opted_out = RecipientPreferences(opted_out=frozenset({"request_routed_agency"}))
    preferences = Preferences(by_address={"JLee@Springfield.example.gov": agency_opted_out})
    assert who(plan(routed(request), request, preferences)) == {("assignment_provider", "provider", "email")}


# Delivery ids


def test_a_delivery_id_is_the_same_for_the_same_event_recipient_and_channel():
    event_id = uuid4()
    assert delivery_id(event_id, STAFF, "email") == delivery_id(event_id, STAFF.model_copy(), "email")


def test_a_delivery_id_differs_per_event_channel_and_recipient():
    event_id = uuid4()
    provider = Recipient(role="provider", name="NPI", email="cri@npi.example.org")
    ids = {
        delivery_id(event_id, STAFF, "email"),
        delivery_id(event_id, STAFF, "webhook"),
        delivery_id(event_id, provider, "email"),
        delivery_id(uuid4(), STAFF, "email"),
    }
    assert len(ids) == 4


def test_a_delivery_id_differs_per_channel_even_without_any_address():
    nowhere = Recipient(role="agency", name="agency contact")
    event_id = uuid4()
    assert delivery_id(event_id, nowhere, "email") != delivery_id(event_id, nowhere, "webhook")


# Webhook signatures


BODY = b'{"kind":"review_needed_staff"}'
SECRET = "s3cret"


def test_a_signature_names_its_timestamp_and_verifies():
    header = sign(BODY, SECRET, timestamp=1_767_000_000)
    assert header.startswith("t=1767000000,v1=")
    assert verify(BODY, header, SECRET, tolerance_s=300, now=1_767_000_100)


def test_a_tampered_body_fails_verification():
    header = sign(BODY, SECRET, timestamp=1_767_000_000)
    assert not verify(BODY.replace(b"staff", b"agency"), header, SECRET, tolerance_s=300, now=1_767_000_000)


def test_a_tampered_timestamp_fails_verification():
    signature = sign(BODY, SECRET, timestamp=1_767_000_000).split(",")[1]
    assert not verify(BODY, f"t=1767000001,{signature}", SECRET, tolerance_s=300, now=1_767_000_000)


def test_another_secret_fails_verification():
    header = sign(BODY, SECRET, timestamp=1_767_000_000)
    assert not verify(BODY, header, "other", tolerance_s=300, now=1_767_000_000)


def test_a_signature_older_than_the_tolerance_fails_verification():
    header = sign(BODY, SECRET, timestamp=1_767_000_000)
    assert not verify(BODY, header, SECRET, tolerance_s=300, now=1_767_000_301)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=soon,v1=abc", "t=1767000000", "garbage"])
def test_a_malformed_header_fails_verification(header):
    assert not verify(BODY, header, SECRET, tolerance_s=300, now=1_767_000_000)


def test_a_webhook_body_is_canonical_json_with_the_ids():
    request = facts()
    hook = only(plan(needs_review(request), request), "review_needed_staff", "webhook")
    body = webhook_body(hook, render(hook))
    decoded = json.loads(body)
    assert json.dumps(decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == body
    assert decoded["request_id"] == str(request.request_id)
    assert decoded["delivery_id"] == str(delivery_id(hook.cause_event_id, STAFF, "webhook"))
    assert (decoded["kind"], decoded["role"]) == ("review_needed_staff", "staff")


# Retries


class HighestDraw(random.Random):
    """Always draws the top of the range, to read the backoff ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_retry_ceiling_doubles_up_to_the_cap():
    delays = [retry_delay(attempt, base_s=1.0, cap_s=30.0, rng=HighestDraw()) for attempt in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@given(attempt=st.integers(min_value=1, max_value=10_000), seed=st.integers())
def test_a_retry_delay_is_never_negative_nor_above_the_cap(attempt, seed):
    assert 0 <= retry_delay(attempt, base_s=0.5, cap_s=60.0, rng=random.Random(seed)) <= 60.0


def test_attempts_count_from_one():
    with pytest.raises(ValueError):
        retry_delay(0, base_s=1.0, cap_s=30.0, rng=random.Random(0))


def test_request_facts_survive_a_json_round_trip():
    request = facts(confidential=True)
    assert RequestFacts.model_validate_json(request.model_dump_json()) == request
