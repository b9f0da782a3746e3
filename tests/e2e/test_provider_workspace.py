"""The provider workspace and the staff dashboard in a real headless Chromium (tests/browser.py), on the running
system: providers sign in by the emailed link, see their engagement and the request as they may read it, record
milestones with buttons, add and move recommendations, close; a page made stale by someone else says so; another
provider's engagement is a 403 page; staff see the dashboard follow live. Every page is screenshot (artifacts/)
and checked by axe-core at desktop width and at 375 px."""

from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from system.mail import latest_sign_in_link
from tests.browser import Browser
from tests.support import SERVICE, STAFF, eventually, sample_request, unique

pytestmark = pytest.mark.e2e

CRITICAL_RESPONSE_MAILBOX = "critical-response@policinginstitute.example.org"  # services/routing/data/providers.yaml
ASSESSMENT_MAILBOX = "organizational-assessment@cops.example.org"
STAFF_EMAIL = "staff@cri-exchange.example"  # the embedded stack's CRI_STAFF_EMAILS
INCIDENT = "Officer-involved shooting during a protest; the family asks for an independent review."
# Words that point to no other tier (routing's lexicon would send a shooting to staff from an assessment request).
COMPLAINT = "A complaint about a traffic stop on Elm Street, which the agency asks to keep confidential."
SYSTEMIC = {
    "issues": ["community_trust"],
    "description": "Community trust has eroded after several contested use-of-force incidents.",
    "long_term_assistance_wanted": True,
    "commitment_to_implement": True,
}


async def engagement_of(system, db, body: dict) -> str:
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as intake:
        request_id = (await intake.post("/v1/requests", json=body)).json()["request_id"]

    async def opened():
        return await db.fetchval("SELECT engagement_id FROM engagements.engagements WHERE request_id = $1", request_id)

    return str(await eventually(opened, timeout_s=60, what="the request's engagement"))


async def sign_in(browser: Browser, intake: str, maildir: Path, email: str) -> None:
    """As a person does: ask for a link, open it from the email, press Sign in."""
    before = latest_sign_in_link(maildir, email)
    browser.open(f"{intake}/sign-in")
    browser.fill({"email": email})
    browser.click("main form button[type=submit]")

    async def arrived():
        link = latest_sign_in_link(maildir, email)
        return link if link and link != before else None

    browser.open(await eventually(arrived, what=f"the sign-in link for {email}"))
    browser.click("main form button[type=submit]")
    assert "cri_session" in browser.cookies()


class Audit:
    """Screenshots and axe-core on each page visited; the serious or critical violations found."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.found: list[dict] = []

    def __call__(self, name: str) -> None:
        self.found += [{**violation, "page": name} for violation in self.browser.audit(name)]


async def test_a_critical_response_provider_works_its_engagement_and_the_dashboard_follows_live(
    system, db, infra, browser, tmp_path
):
    intake, engagements = system["intake"].url, system["engagements"].url
    agency = unique("Riverton Police Department")
    incident = {
        "summary": INCIDENT,
        "occurred_on": (date.today() - timedelta(days=5)).isoformat(),
        "high_profile": True,
        "confidential": True,
        "assistance": ["after_action_review"],
    }
    engagement_id = await engagement_of(system, db, sample_request(agency__name=agency, incident=incident))

    staff = Browser(tmp_path / "staff")
    try:
        staff_audit = Audit(staff)
        await sign_in(staff, intake, infra.maildir, STAFF_EMAIL)
        staff.open(f"{engagements}/dashboard")

        async def live():
            return staff.evaluate("document.getElementById('connection').textContent") == "live"

        await eventually(live, what="the dashboard to follow its stream")
        assert agency in staff.text("#overdue") or agency in staff.text("#latest")

        audit = Audit(browser)
        await sign_in(browser, intake, infra.maildir, CRITICAL_RESPONSE_MAILBOX)
        browser.open(f"{engagements}/engagements")
        assert agency in browser.text()
        audit("workspace")
        browser.click(f"a[href='/engagements/{engagement_id}']")
        page = browser.text()
        # The Critical Response provider reads the incident, confidential as it is, and whom to call.
        assert INCIDENT in page and "(confidential)" in page
        assert "jlee@springfield.example.gov" in page
        audit("engagement-critical-response")

        browser.fill({"first_contact-note": "Called the chief; site visit planned."})
        browser.click("#record-first_contact")
        assert "The milestone is recorded." in browser.text()
        browser.fill({"assistance_delivered-detail": "after_action_review"})
        browser.click("#record-assistance_delivered")
        assert "The milestone is recorded." in browser.text()
        audit("engagement-delivered")

        # Staff see the same engagement, with the escalation only they may make.
        staff.open(f"{engagements}/engagements/{engagement_id}")
        assert "Escalate to another tier" in staff.text() and "Assistance delivered" in staff.text()
        staff_audit("engagement-as-staff")
        staff.open(f"{engagements}/dashboard")
        await eventually(live, what="the dashboard to follow its stream again")
        staff.evaluate("window.notReloaded = true")

        # Someone else records the next milestone meanwhile: this page's buttons are stale.
        async with httpx.AsyncClient(base_url=engagements, headers=STAFF) as api:
            moved = await api.post(
                f"/v1/engagements/{engagement_id}/milestones",
                json={"milestone": "report_delivered", "expected_version": 3},
            )
        assert moved.status_code == 200, moved.text
        browser.fill({"outcome-2": "on", "closure-note": "Stopped early."})
        browser.click("#close")
        page = browser.text()
        assert "This engagement changed since you opened it" in page
        assert "Report delivered" in page  # the state as it is now
        audit("engagement-changed")

        browser.fill({"outcome": "on", "closure-note": "After-action report delivered to the chief."})
        browser.click("#close")
        page = browser.text()
        assert "The engagement is closed." in page
        assert "jlee@springfield.example.gov" not in page  # the contact person is not shown once the work is over
        trail = browser.text("#audit-trail")
        assert "provider:national-policing-institute" in trail and "staff:dev-staff" in trail
        audit("engagement-closed")

        async def followed():
            latest = staff.text("#latest")
            return agency in latest and "Closed" in latest and "Milestone: first contact" in latest

        await eventually(followed, what="the dashboard to show the closure without reload")
        assert staff.evaluate("window.notReloaded") is True
        staff_audit("dashboard")
        staff.click(f"#latest a[href='/engagements/{engagement_id}']")
        assert "Closed (completed)" in staff.text()
    finally:
        staff.close()

    assert audit.found + staff_audit.found == []


async def test_an_assessment_provider_adds_and_moves_recommendations_and_never_reads_a_confidential_incident(
    system, db, infra, browser
):
    intake, engagements = system["intake"].url, system["engagements"].url
    agency = unique("Lakeview Sheriff's Office")
    incident = {  # not recent and asking for no Critical Response help: an assessment still
        "summary": COMPLAINT,
        "occurred_on": (date.today() - timedelta(days=400)).isoformat(),
        "confidential": True,
    }
    body = sample_request(agency__name=agency, systemic_concerns=SYSTEMIC, incident=incident)
    engagement_id = await engagement_of(system, db, body)
    other_id = await engagement_of(system, db, sample_request())  # a CRI-TAC engagement: another provider's

    audit = Audit(browser)
    await sign_in(browser, intake, infra.maildir, ASSESSMENT_MAILBOX)
    browser.open(f"{engagements}/engagements/{engagement_id}")
    page = browser.text()
    assert "Organizational Assessment" in page and COMPLAINT not in page
    assert "The incident's account is confidential" in page

    for milestone in ("assessment", "findings_and_recommendations"):
        browser.click(f"#record-{milestone}")
        assert "The milestone is recorded." in browser.text()
    for text in ("Publish use-of-force data quarterly.", "Adopt an early intervention system."):
        browser.fill({"text": text})
        browser.click("#add-recommendation")
        assert "The recommendation is added." in browser.text()
    browser.click("button[name=status][value=accepted]")
    page = browser.text("#recommendations ~ div")
    assert "Status: Accepted" in page and "provider:oa-provider" in page
    audit("engagement-recommendations")

    browser.click("#record-implementation_monitoring")
    browser.click("#record-final_report")
    browser.fill({"outcome": "on", "closure-note": "Final report delivered."})
    browser.click("#close")
    assert "The engagement is closed." in browser.text()

    browser.open(f"{engagements}/engagements?status=closed")
    assert agency in browser.text()
    audit("workspace-closed")
    browser.open(f"{engagements}/engagements/{other_id}")
    assert "another provider's" in browser.text()
    audit("engagement-forbidden")

    assert audit.found == []


async def test_staff_escalate_from_the_page_in_their_own_name(system, db, infra, browser):
    intake, engagements = system["intake"].url, system["engagements"].url
    engagement_id = await engagement_of(system, db, sample_request())  # CRI-TAC

    await sign_in(browser, intake, infra.maildir, STAFF_EMAIL)
    browser.open(f"{engagements}/engagements/{engagement_id}")
    browser.fill({"to_tier": "organizational_assessment", "reason": "The training surfaced systemic issues."})
    browser.click("#escalate")
    assert "closed as escalated" in browser.text()
    trail = browser.text("#audit-trail")
    assert f"staff:{STAFF_EMAIL}" in trail and "The training surfaced systemic issues." in trail

    async def successor():
        return await db.fetchval(
            "SELECT tier FROM engagements.engagements WHERE escalated_from = $1::uuid", engagement_id
        )

    assert await eventually(successor, timeout_s=60, what="the escalated request's new engagement") == (
        "organizational_assessment"
    )
    assert browser.audit("engagement-escalated") == []
