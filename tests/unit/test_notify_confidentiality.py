"""What each recipient may read of a request, on each channel."""

import json

import pytest

from services.notify.domain.rendering import render
from services.notify.domain.webhooks import webhook_body
from shared.contract.vocabulary import CriticalAssistance
from tests.unit.test_notify_planning import (
    INCIDENT,
    facts,
    facts_of,
    needs_review,
    only,
    plan,
    received,
    routed,
)


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
    event = received(confidential=True)
    [ack] = plan(event, facts_of(event))
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
