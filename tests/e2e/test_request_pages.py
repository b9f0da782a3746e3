"""Intake's pages for agencies against the running system (docs/intake.md, "Pages for agencies"): the public form
holds a request until its contact confirms it by the emailed link (read back from the SMTP sink's Maildir), a
signed-in contact's request is accepted at once, "my requests" follows each request, a waiting request can be
withdrawn (routing takes it out of its queue) and a routed one cannot, an assessment's recommendations show,
bad posts get pages, never a 500."""

import re

import httpx
import pytest

from services.intake.domain.request_form import FIELDS
from system.mail import messages_to
from tests.e2e.test_signin import HTML, agency_contact, ask_for_link, csrf_of, emailed_link, use_link
from tests.support import SERVICE, STAFF, eventually, sample_request, unique

pytestmark = pytest.mark.e2e

SYSTEMIC = {
    "issues": ["community_trust"],
    "description": "Community trust has eroded after several contested use-of-force incidents.",
    "long_term_assistance_wanted": True,
    "commitment_to_implement": True,
}
CONFIRM_LINK = re.compile(r"https?://\S+/requests/confirm/[A-Za-z0-9_-]+")


def form_of(body: dict, **changes: str) -> dict[str, str | list[str]]:
    """A request body as the form posts it (dotted names), with `changes`."""
    agency, contact, assistance = body["agency"], body["contact"], body["assistance"]
    form = {
        "agency.name": agency["name"],
        "agency.type": agency["type"],
        "agency.state": agency["state"],
        "agency.sworn_officers": str(agency["sworn_officers"]),
        "agency.population_served": str(agency["population_served"]),
        "contact.name": contact["name"],
        "contact.title": contact["title"],
        "contact.email": contact["email"],
        "contact.phone": contact["phone"],
        "assistance.description": assistance["description"],
        "assistance.topic_areas": assistance["topic_areas"],
        "urgency": "routine",
        "incident.summary": "",
    }
    return {**form, **changes}


async def confirmation_link(maildir, email: str) -> str:
    async def arrived() -> str | None:
        for message in reversed(messages_to(maildir, email)):
            found = CONFIRM_LINK.search(message.get_body(preferencelist=("plain",)).get_content())
            if found:
                return found.group(0)
        return None

    return await eventually(arrived, what=f"a confirmation link for {email} in the Maildir")


async def test_a_request_from_the_public_form_waits_for_its_contact_to_confirm_it(system, infra):
    email = f"{unique('chief')}@agency.example.gov"
    body = sample_request(contact__email=email)
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=HTML) as browser:
        page = await browser.get("/")
        assert page.status_code == 200
        assert all(f'id="{name}"' in page.text for name in FIELDS)
        assert "Critical Response" in page.text and "Organizational Assessment" in page.text
        assert "De-escalation" in page.text and "Missing and murdered Indigenous persons" in page.text

        wrong = form_of(
            body, **{"agency.name": "", "contact.email": "chief at agency", "agency.sworn_officers": "lots"}
        )
        mistakes = await browser.post("/", data={**wrong, "csrf_token": csrf_of(page)})
        assert mistakes.status_code == 422
        assert '<a class="usa-link" href="#agency.name">Enter your agency&#39;s name</a>' in mistakes.text
        assert 'href="#contact.email"' in mistakes.text and 'href="#agency.sworn_officers"' in mistakes.text
        assert 'value="lots"' in mistakes.text and 'value="chief at agency"' in mistakes.text  # kept as typed
        assert 'aria-invalid="true"' in mistakes.text

        held = await browser.post("/", data={**form_of(body), "csrf_token": csrf_of(mistakes)})
        assert held.status_code == 200 and "Check your email" in held.text and email in held.text

        link = await confirmation_link(infra.maildir, email)
        assert link.startswith(f"{system['intake'].url}/requests/confirm/")
        check = await browser.get(link)
        assert check.status_code == 200 and "Send your request" in check.text and body["agency"]["name"] in check.text
        sent = await browser.post(link, data={"csrf_token": csrf_of(check)})
        assert sent.status_code == 200 and "Request sent" in sent.text
        request_id = re.search(r'id="request-id">([0-9a-f-]{36})<', sent.text).group(1)
        again = await browser.post(link, data={"csrf_token": csrf_of(check)})  # a second click sends nothing new
        assert request_id in again.text

    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as api:
        status = await api.get(f"/v1/requests/{request_id}")
        assert status.status_code == 200 and status.json()["agency_name"] == body["agency"]["name"]


async def test_a_confirmation_link_that_is_unknown_gets_a_page_that_says_what_to_do(system):
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=HTML) as browser:
        page = await browser.get("/requests/confirm/" + "x" * 43)
    assert page.status_code == 410 and "Fill in the form again" in page.text


async def test_too_many_unconfirmed_requests_for_one_address_are_refused_with_a_page(system):
    email = f"{unique('flood')}@agency.example.gov"
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=HTML) as browser:
        answers = []
        for _ in range(4):
            page = await browser.get("/")
            form = form_of(sample_request(contact__email=email), csrf_token=csrf_of(page))
            answers.append((await browser.post("/", data=form)).status_code)
    assert answers == [200, 200, 200, 429]


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json", b"{}", 415),
        ("application/x-www-form-urlencoded", b"agency.name=" + b"x" * 70_000, 413),
        ("application/x-www-form-urlencoded", b"agency.name=\xff\xfe", 422),
        ("application/x-www-form-urlencoded", b"agency.name=Springfield", 403),  # no form token
    ],
)
async def test_a_bad_post_to_the_form_gets_a_page_never_a_500(system, content_type, body, expected):
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=HTML) as browser:
        answer = await browser.post("/", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == expected
    assert answer.headers["content-type"].startswith("text/html") and "<h1>" in answer.text


async def test_an_agency_person_follows_sends_and_withdraws_their_agencys_requests(system, infra):
    intake, routing = system["intake"].url, system["routing"].url
    email, agency = await agency_contact(intake)
    async with httpx.AsyncClient(base_url=intake, headers=HTML) as browser:
        await ask_for_link(browser, email)
        await use_link(browser, await emailed_link(infra.maildir, email))

        # Signed in, a request of their own agency is accepted at once (no emailed confirmation).
        mine = await browser.get("/my-requests")
        assert mine.status_code == 200
        [first] = re.findall(r"Request number <span class=\"text-mono\">([0-9a-f-]{36})<", mine.text)
        form = await browser.get("/")
        first_body = (await _status(intake, first))["agency_name"]
        thin = form_of(
            sample_request(contact__email=email),
            **{"agency.name": first_body, "assistance.topic_areas": []},  # no topic: program staff review it
        )
        sent = await browser.post("/", data={**thin, "csrf_token": csrf_of(form)})
        assert sent.status_code == 303 and sent.headers["location"].startswith("/requests/")
        second = sent.headers["location"].split("/")[2]
        shown = await browser.get(sent.headers["location"])
        assert shown.status_code == 200 and second in shown.text

        async def in_review() -> bool:
            return (await _status(intake, second))["status"] == "in_review"

        await eventually(in_review, what="the thin request to go to staff review")

        async def routed_first() -> bool:
            return (await _status(intake, first))["status"] in ("routed", "engagement_opened")

        await eventually(routed_first, what="the first request to be routed")
        mine = await browser.get("/my-requests")
        assert mine.text.count("Request number") == 2 and "With program staff" in mine.text
        assert f"/my-requests/{second}/withdraw" in mine.text and f"/my-requests/{first}/withdraw" not in mine.text

        confirm = await browser.get(f"/my-requests/{second}/withdraw")
        assert confirm.status_code == 200
        done = await browser.post(
            f"/my-requests/{second}/withdraw", data={"reason": "Found help nearer.", "csrf_token": csrf_of(confirm)}
        )
        assert done.status_code == 303
        after = await browser.get(done.headers["location"])
        assert f"You withdrew the request {second}" in after.text and "Withdrawn by " + email in after.text

        refused = await browser.post(f"/my-requests/{first}/withdraw", data={"csrf_token": csrf_of(after)})
        assert refused.status_code == 409 and "Contact them" in refused.text

        others = await browser.get(f"/my-requests/{await _other_agencys_request(intake)}/withdraw")
        malformed = await browser.get("/my-requests/not-a-request-number/withdraw")
        assert others.status_code == malformed.status_code == 404 and "<h1>" in malformed.text

    async def left_routing():
        async with httpx.AsyncClient(base_url=routing, headers=STAFF) as api:
            history = (await api.get(f"/v1/requests/{second}/decisions")).json()["decisions"]
        return history[-1]["outcome"] == "withdrawn" and history[-1]

    withdrawal = await eventually(left_routing, what="routing to take the withdrawn request out")
    assert withdrawal["decided_by"] == "agency" and withdrawal["reason"] == "Found help nearer."


async def _status(intake: str, request_id: str) -> dict:
    async with httpx.AsyncClient(base_url=intake, headers=SERVICE) as api:
        return (await api.get(f"/v1/requests/{request_id}")).json()


async def _other_agencys_request(intake: str) -> str:
    async with httpx.AsyncClient(base_url=intake, headers=SERVICE) as api:
        return (await api.post("/v1/requests", json=sample_request())).json()["request_id"]


async def test_my_requests_shows_an_assessments_recommendations_read_from_engagements(system, infra, db):
    intake = system["intake"].url
    email = f"{unique('chief')}@agency.example.gov"
    body = sample_request(contact__email=email, systemic_concerns=SYSTEMIC)
    async with httpx.AsyncClient(base_url=intake, headers=SERVICE) as api:
        request_id = (await api.post("/v1/requests", json=body)).json()["request_id"]

    async def engagement_id():
        return await db.fetchval("SELECT engagement_id FROM engagements.engagements WHERE request_id = $1", request_id)

    url = f"/v1/engagements/{await eventually(engagement_id, what='the assessment to open')}"
    async with httpx.AsyncClient(base_url=system["engagements"].url, headers=STAFF) as engagements:
        for version, step in enumerate(["assessment", "findings_and_recommendations"], start=1):
            moved = await engagements.post(f"{url}/milestones", json={"milestone": step, "expected_version": version})
            assert moved.status_code == 200
        added = await engagements.post(f"{url}/recommendations", json={"text": "Publish use-of-force data quarterly"})
        assert added.status_code == 201

    async with httpx.AsyncClient(base_url=intake, headers=HTML) as browser:
        await ask_for_link(browser, email)
        await use_link(browser, await emailed_link(infra.maildir, email))

        async def shown() -> str | None:
            page = (await browser.get("/my-requests")).text
            return page if "Publish use-of-force data quarterly" in page else None

        page = await eventually(shown, what="the recommendation in my requests")
    assert "Recommendations of the assessment" in page and "Proposed" in page
