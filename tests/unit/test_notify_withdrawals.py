"""A withdrawn request: the agency contact hears it is withdrawn; the provider it went to hears it too, whichever
of the withdrawal and the routing comes first. And the link that confirms a request sent by the public form."""

from datetime import timedelta
from uuid import uuid4

from services.notify.domain.preferences import Preferences, RecipientPreferences
from services.notify.domain.rendering import render
from shared.contract.events import RequestWithdrawn, SubmissionConfirmationRequested
from tests.unit.test_notify_planning import NOW, PROVIDER, facts, only, plan, routed, who


def withdrawn(request, reason=None) -> RequestWithdrawn:
    return RequestWithdrawn(
        request_id=request.request_id,
        withdrawn_at=NOW,
        withdrawn_by="jlee@springfield.example.gov",
        status_seen="queued",
        reason=reason,
    )


def test_a_request_no_provider_had_is_withdrawn_to_the_agency_alone():
    request = facts()
    assert who(plan(withdrawn(request), request)) == {("request_withdrawn_agency", "agency", "email")}


def test_the_provider_it_was_routed_to_hears_of_the_withdrawal_with_the_agencys_words():
    request = facts().model_copy(update={"provider": PROVIDER})
    planned = plan(withdrawn(request, reason="The state academy will train us instead."), request)
    assert who(planned) == {
        ("request_withdrawn_agency", "agency", "email"),
        ("request_withdrawn_provider", "provider", "email"),
    }
    message = render(only(planned, "request_withdrawn_provider"))
    assert only(planned, "request_withdrawn_provider").address == PROVIDER.contact_email
    assert message.subject == "Withdrawn by the agency: Springfield Police Department"
    assert "The state academy will train us instead." in message.text and "close the engagement" in message.text


def test_routing_that_comes_after_the_withdrawal_tells_the_provider_of_the_withdrawal_instead():
    request = facts().model_copy(update={"withdrawn_at": NOW})
    planned = plan(routed(request), request)
    assert who(planned) == {
        ("request_routed_agency", "agency", "email"),
        ("request_withdrawn_provider", "provider", "email"),
    }
    assert "withdrew its request" in render(only(planned, "request_withdrawn_provider")).text


def test_the_agency_is_told_its_request_is_withdrawn():
    request = facts()
    message = render(only(plan(withdrawn(request), request), "request_withdrawn_agency"))
    assert message.subject == "Your request for assistance is withdrawn: Springfield Police Department"
    assert f"Request reference: {request.request_id}" in message.text


def confirmation() -> SubmissionConfirmationRequested:
    return SubmissionConfirmationRequested(
        link_id=uuid4(),
        email="jlee@springfield.example.gov",
        name="Jordan Lee",
        agency_name="Springfield Police Department",
        url="https://cri.example.gov/requests/confirm/" + "t" * 43,
        expires_at=NOW + timedelta(hours=24),
        requested_at=NOW,
    )


def test_the_confirmation_link_goes_to_the_contact_by_email_whatever_the_preferences():
    webhook_only = Preferences(
        by_address={
            "jlee@springfield.example.gov": RecipientPreferences(
                channels={"webhook"}, opted_out={"submission_confirmation"}
            )
        }
    )
    [planned] = plan(confirmation(), request=None, preferences=webhook_only)
    assert (planned.kind, planned.channel, planned.address) == (
        "submission_confirmation",
        "email",
        "jlee@springfield.example.gov",
    )
    assert planned.request_id is None


def test_the_confirmation_email_names_the_agency_the_link_and_how_long_it_works():
    event = confirmation()
    message = render(plan(event, request=None)[0])
    assert message.subject == "Confirm your request for assistance: Springfield Police Department"
    assert event.url in message.text and f'href="{event.url}"' in message.html
    assert "24 hours" in message.text and "Hello Jordan Lee" in message.text
    assert "Request reference" not in message.text
