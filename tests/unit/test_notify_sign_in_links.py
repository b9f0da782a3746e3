"""The sign-in link email: to the person who asked, by email only whatever the preferences, with the link."""

from datetime import timedelta
from uuid import uuid4

from services.notify.domain.preferences import Preferences, RecipientPreferences
from services.notify.domain.rendering import render
from shared.contract.events import SignInLinkRequested
from tests.unit.test_notify_planning import NOW, plan

URL = "https://cri.example.gov/sign-in/link?token=" + "t" * 43


def asked(role: str = "provider") -> SignInLinkRequested:
    return SignInLinkRequested(
        link_id=uuid4(),
        email="cri-tac@iacp.example.org",
        name="International Association of Chiefs of Police",
        role=role,
        url=URL,
        expires_at=NOW + timedelta(minutes=15),
        requested_at=NOW,
    )


def test_the_link_goes_to_the_person_who_asked_by_email_only_whatever_their_preferences():
    webhook_only = Preferences(
        by_address={"cri-tac@iacp.example.org": RecipientPreferences(channels={"webhook"}, opted_out={"sign_in_link"})}
    )
    [planned] = plan(asked(), request=None, preferences=webhook_only)
    assert (planned.kind, planned.channel, planned.address) == ("sign_in_link", "email", "cri-tac@iacp.example.org")
    assert planned.recipient.role == "provider" and planned.request_id is None


def test_the_email_carries_the_link_and_how_long_it_works():
    [planned] = plan(asked("staff"), request=None)
    message = render(planned)
    assert message.subject == "Your CRI Exchange sign-in link"
    assert URL in message.text and f'href="{URL}"' in message.html
    assert "15 minutes" in message.text and "Hello International Association of Chiefs of Police" in message.text
    assert "Request reference" not in message.text and "Request reference" not in message.html
