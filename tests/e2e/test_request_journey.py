"""The whole path of an agency person in a real Chromium, as a person would walk it: open the request form, send it
with mistakes, fix them, confirm by the emailed link, sign in by an emailed link, see the request routed and its
engagement opened in "my requests", send another request signed in and withdraw it, meet an expired link, sign
out. Every page is screenshot at desktop width and at 375 px
(artifacts/journey-*.png) and checked by axe-core: no serious or critical violation anywhere."""

import pytest

from tests.browser import Browser
from tests.e2e.test_request_pages import confirmation_link
from tests.e2e.test_signin import emailed_link
from tests.support import eventually, unique

pytestmark = pytest.mark.e2e


async def test_an_agency_person_asks_for_help_confirms_signs_in_follows_the_request_and_signs_out(
    system, infra, browser: Browser
):
    intake = system["intake"].url
    email = f"{unique('chief')}@campus.example.edu"
    agency = unique("Lakeside College Police")
    found = []

    browser.open(f"{intake}/")
    assert "Ask the Collaborative Reform Initiative for help" in browser.text()
    found += browser.audit("journey-01-request-form")

    browser.fill(
        {
            "agency.name": agency,
            "agency.type-4": "on",  # campus
            "agency.state": "OH",
            "agency.sworn_officers": "nine",  # a mistake
            "agency.population_served": "12,500",
            "contact.name": "Sam Ortiz",
            "contact.title": "Chief of Police",
            "contact.email": email.replace("@", " at "),  # a mistake
            "contact.phone": "+1 614-555-0199",
            "assistance.description": "Training for our nine officers on responding to students in crisis.",
            "assistance.topic_areas-7": "on",  # crisis intervention
        }
    )
    browser.click("#request-form button[type=submit]")
    assert "There are 2 problems" in browser.text()
    assert browser.evaluate("document.getElementById('agency.name').value") == agency  # kept
    found += browser.audit("journey-02-request-form-with-mistakes")

    browser.fill({"agency.sworn_officers": "9", "contact.email": email})
    browser.click("#request-form button[type=submit]")
    assert "Check your email" in browser.text() and email in browser.text()
    found += browser.audit("journey-03-check-your-email")

    browser.open(await confirmation_link(infra.maildir, email))
    assert "Send your request" in browser.text() and agency in browser.text()
    found += browser.audit("journey-04-check-and-send")
    browser.click("main form button[type=submit]")
    assert "Request sent" in browser.text()
    request_id = browser.text("#request-id")
    found += browser.audit("journey-05-request-sent")

    browser.click("a[href='/my-requests']")  # not signed in: the sign-in page, then back here
    assert "/sign-in" in browser.url
    found += browser.audit("journey-06-sign-in")
    browser.fill({"email": email})
    browser.click("main form button[type=submit]")
    browser.open(await emailed_link(infra.maildir, email))
    browser.click("main form button[type=submit]")
    assert browser.url.endswith("/my-requests")

    async def opened() -> bool:
        browser.open(f"{intake}/my-requests")
        return "The provider opened the engagement." in browser.text()

    await eventually(opened, what="the engagement opened in my requests", timeout_s=60)
    text = browser.text()
    assert request_id in text and "Matched to Training and technical assistance (CRI-TAC), with" in text
    found += browser.audit("journey-07-my-requests")

    # Signed in, another request of the same agency goes at once; too thin to route, it waits for staff, and the
    # agency withdraws it.
    browser.open(f"{intake}/")
    browser.fill(
        {
            "agency.name": agency,
            "agency.type-4": "on",
            "agency.state": "OH",
            "agency.sworn_officers": "9",
            "agency.population_served": "12500",
            "contact.name": "Sam Ortiz",
            "contact.title": "Chief of Police",
            "contact.email": email,
            "contact.phone": "+1 614-555-0199",
            "assistance.description": "Advice on something we cannot name yet.",
        }
    )
    browser.click("#request-form button[type=submit]")
    assert "Request sent" in browser.text()
    thin = browser.text("#request-id")

    async def with_staff() -> bool:
        browser.open(f"{intake}/my-requests")
        return f"/my-requests/{thin}/withdraw" in browser.evaluate("document.body.innerHTML")

    await eventually(with_staff, what="the thin request to wait for staff, withdrawable")
    browser.click(f"a[href='/my-requests/{thin}/withdraw']")
    found += browser.audit("journey-08-withdraw")
    browser.fill({"reason": "We found help from the state academy."})
    browser.click("main form button[type=submit]")
    assert f"You withdrew the request {thin}" in browser.text()
    found += browser.audit("journey-09-withdrawn")

    browser.open(f"{intake}/requests/confirm/{'x' * 43}")
    assert "This link has expired" in browser.text()
    found += browser.audit("journey-10-expired-link")

    browser.click("header form button[type=submit]")  # sign out
    assert "Signed in as" not in browser.text("body")
    found += browser.audit("journey-11-signed-out")
    assert found == []
