"""Staff triage in a real headless Chromium, on a running system of its own whose CRI-TAC providers have no room:
a conflicting request arrives in review and a CRI-TAC one waits for a place; staff sign in by the emailed link,
open the queue and the request, make the mistakes the form must catch (nothing chosen, a full provider), assign
it with a reason and see it leave the queue; a request decided again while its page was open comes back as it is
now; the registry; an agency contact is refused. Every page is screenshotted under artifacts/ and checked with
axe-core at desktop and 375 px: no serious or critical violation."""

from pathlib import Path

import httpx
import pytest
import yaml

from services.routing.domain.policy import load_policy
from services.routing.settings import POLICY_FILE, PROVIDERS_FILE
from tests.browser import Browser
from tests.e2e.test_provider_workspace import sign_in
from tests.e2e.test_routing_staff import CONFLICTING, decisions, submit
from tests.support import STAFF, unique

pytestmark = pytest.mark.e2e

STAFF_EMAIL = "staff@cri-exchange.example"  # the embedded stack's program staff (CRI_STAFF_EMAILS)


@pytest.fixture(scope="module")
def no_cri_tac_room(private_system, tmp_path_factory):
    registry = yaml.safe_load(PROVIDERS_FILE.read_text())
    for provider in registry["providers"]:
        if provider["tier"] == "cri_tac":
            provider["capacity"] = 0
    providers = Path(tmp_path_factory.mktemp("triage")) / "providers.yaml"
    providers.write_text(yaml.safe_dump(registry))
    return private_system(env={"CRI_PROVIDERS_FILE": str(providers)})


def listed(browser: Browser, request_id: str) -> bool:
    return browser.evaluate(f"document.querySelector('main table a[href=\"/triage/requests/{request_id}\"]') !== null")


async def test_staff_triage_a_conflicting_request_in_the_browser(no_cri_tac_room, browser):
    services = no_cri_tac_room.services
    intake, routing = services["intake"].url, services["routing"].url
    contact = f"{unique('chief')}@agency.example.gov"
    conflicting = await submit(services, **CONFLICTING, contact__email=contact)
    also_conflicting = await submit(services, **CONFLICTING)
    waiting = await submit(services, urgency="urgent")
    for request_id in (conflicting, also_conflicting, waiting):
        await decisions(services, request_id)
    problems = {}

    def page(name: str) -> str:
        problems[name] = browser.audit(f"triage-{name}")
        return browser.text()

    browser.open(f"{routing}/triage")
    assert browser.url.startswith(f"{intake}/sign-in")  # pages are for people signed in on intake's pages
    await sign_in(browser, intake, no_cri_tac_room.infra.maildir, STAFF_EMAIL)

    browser.open(f"{routing}/triage")
    shown = page("queue")
    assert "2 in review, 1 waiting for a place" in shown
    assert listed(browser, conflicting) and listed(browser, also_conflicting) and listed(browser, waiting)
    assert "Conflicting signals: both Critical Response and Organizational Assessment apply" in shown
    assert "CRI-TAC: 1" in shown and "urgent" in browser.text("#waiting ~ table").lower()  # a tag, in capitals

    browser.click(f"main a[href='/triage/requests/{conflicting}']")
    shown = page("request")
    assert "Officer-involved shooting downtown." in shown  # the incident, which staff judge by
    assert contact in shown
    assert "A recent incident asks for Critical Response help." in shown
    assert f"policy version {load_policy(POLICY_FILE).version}" in shown
    assert "No room now:" in shown  # every CRI-TAC provider

    browser.click("#assign-button")
    shown = page("request-errors")
    assert "There are 3 problems" in shown
    assert browser.evaluate("document.title").startswith("Error: ")
    assert browser.evaluate("document.querySelector('#error-summary a').hash") == "#tier"

    reason = "The incident comes first; the assessment can follow."
    browser.fill({"tier": "on", "provider_id": "iacp", "reason": reason})
    browser.click("#assign-button")
    shown = page("request-no-room")
    assert "This provider has no room left" in shown
    assert browser.evaluate("document.getElementById('reason').value") == reason  # what was entered is kept

    browser.fill({"tier-2": "on", "provider_id": "national-policing-institute"})
    browser.click("#assign-button")
    assert browser.url == f"{routing}/triage?assigned={conflicting}"
    shown = page("assigned")
    assert "is assigned to National Policing Institute (Critical Response)" in shown
    assert "1 in review" in shown and not listed(browser, conflicting)
    assigned = (await decisions(services, conflicting, count=2))[-1]
    assert (assigned["decided_by"], assigned["staff_member"], assigned["reason"]) == ("staff", STAFF_EMAIL, reason)
    assert (assigned["tier"], assigned["provider_id"]) == ("critical_response", "national-policing-institute")

    # Another staff member assigns the other request while its page is open here.
    browser.open(f"{routing}/triage/requests/{also_conflicting}")
    async with httpx.AsyncClient(base_url=routing, headers=STAFF) as api:
        meanwhile = {"tier": "critical_response", "provider_id": "national-policing-institute", "reason": "Urgent."}
        assert (await api.post(f"/v1/requests/{also_conflicting}/assignment", json=meanwhile)).status_code == 200
    browser.fill({"tier-3": "on", "provider_id": "oa-provider", "reason": "An assessment first."})
    browser.click("#assign-button")
    shown = page("request-changed")
    assert "This request changed since you opened it" in shown
    assert "Routed: Critical Response with National Policing Institute" in shown  # as it is now
    assert len(await decisions(services, also_conflicting, count=2)) == 2  # nothing of the stale form was saved

    browser.open(f"{routing}/providers")
    shown = page("registry")
    assert "2 of 20 engagements (18 free)" in shown  # the National Policing Institute, after both assignments
    assert "1 request waiting for a place" in shown
    assert "0 of 0 engagements: full" in shown

    browser.click("header form button[type=submit]")  # sign out (on intake), then sign in as the agency contact
    await sign_in(browser, intake, no_cri_tac_room.infra.maildir, contact)
    browser.open(f"{routing}/triage")
    assert "This page is not open to the agency role." in page("forbidden")

    assert {name: found for name, found in problems.items() if found} == {}
