"""People sign in by emailed link (docs/security.md, "People's sign-in"), against the running system: the link
goes out through intake's outbox, notify and a real SMTP server, and is read back from the Maildir."""

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from services.intake.domain.submissions import agency_key
from services.routing.settings import RoutingSettings
from shared.contract.requests import Agency
from shared.runtime.web.session import COOKIE, IntakeSessions
from system.mail import latest_sign_in_link, messages_to
from system.stack.runner import start_services
from tests.support import SERVICE, SERVICE_KEY, STAFF, eventually, sample_request, unique

pytestmark = pytest.mark.e2e

CRI = str(Path(sys.executable).parent / "cri")  # the installed entry point

HTML = {"Accept": "text/html"}
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_of(page: httpx.Response) -> str:
    return _CSRF.search(page.text).group(1)


async def ask_for_link(browser: httpx.AsyncClient, email: str, **headers: str) -> httpx.Response:
    form = await browser.get("/sign-in", headers=HTML)
    return await browser.post(
        "/sign-in", data={"email": email, "csrf_token": csrf_of(form), "next": "/account"}, headers={**HTML, **headers}
    )


async def emailed_link(maildir, email: str, other_than: str | None = None) -> str:
    async def arrived():
        link = latest_sign_in_link(maildir, email)
        return link if link and link != other_than else None

    return await eventually(arrived, what=f"a sign-in link for {email} in the Maildir")


async def use_link(browser: httpx.AsyncClient, link: str) -> httpx.Response:
    page = await browser.get(link, headers=HTML)
    assert page.status_code == 200, page.text
    token = link.split("token=", 1)[1]
    return await browser.post("/sign-in/link", data={"token": token, "csrf_token": csrf_of(page)}, headers=HTML)


async def agency_contact(intake_url: str) -> tuple[str, str]:
    """A new agency contact (a request with a unique contact address): its address and its agency key."""
    email = f"{unique('contact')}@agency.example.gov"
    body = sample_request(contact__email=email)
    async with httpx.AsyncClient(base_url=intake_url, headers=SERVICE) as api:
        assert (await api.post("/v1/requests", json=body)).status_code == 202
    return email, agency_key(Agency.model_validate(body["agency"]))


async def introspect(intake_url: str, token: str, key: str = SERVICE_KEY) -> httpx.Response:
    async with httpx.AsyncClient(base_url=intake_url) as api:
        return await api.post(
            "/v1/sessions/introspect", json={"token": token}, headers={"Authorization": f"Bearer {key}"}
        )


async def test_an_agency_contact_signs_in_once_with_an_emailed_link(system, infra):
    intake = system["intake"].url
    email, agency = await agency_contact(intake)
    async with httpx.AsyncClient(base_url=intake) as browser:
        sent = await ask_for_link(browser, email)
        assert sent.status_code == 200 and "Check your email" in sent.text
        link = await emailed_link(infra.maildir, email)
        assert link.startswith(f"{intake}/sign-in/link?token=")
        printed = subprocess.run(
            [CRI, "signin-link", email, "--maildir", str(infra.maildir)], capture_output=True, text=True, check=True
        )
        assert printed.stdout.strip() == link  # what a person on the embedded stack gets from `cri signin-link`
        signed_in = await use_link(browser, link)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
        cookie = signed_in.headers["set-cookie"].lower()
        assert all(flag in cookie for flag in ("httponly", "samesite=lax", "path=/", "max-age="))
        assert "secure" not in cookie  # plain HTTP here; Secure when the request came over HTTPS
        account = await browser.get("/account", headers=HTML)
        assert account.status_code == 200 and email in account.text and "Agency contact" in account.text

        # The same link again, from this browser or any other: used.
        again = await browser.get(link, headers=HTML)
        assert again.status_code == 410
        assert "It has expired or it was used already" in again.text and 'href="/sign-in"' in again.text
        async with httpx.AsyncClient(base_url=intake) as other_browser:
            page = await other_browser.get("/sign-in", headers=HTML)
            reused = await other_browser.post(
                "/sign-in/link", data={"token": link.split("token=")[1], "csrf_token": csrf_of(page)}, headers=HTML
            )
            assert reused.status_code == 410 and COOKIE not in reused.cookies

        person = await introspect(intake, browser.cookies[COOKIE])
        assert person.status_code == 200
        assert person.json() == {"role": "agency", "subject": agency, "email": email, "name": "Jordan Lee"}


async def test_asking_with_an_unknown_address_looks_the_same_and_sends_nothing(system, infra):
    intake = system["intake"].url
    known, _ = await agency_contact(intake)
    unknown = f"{unique('nobody')}@agency.example.gov"
    async with httpx.AsyncClient(base_url=intake) as browser:
        pages = {email: await ask_for_link(browser, email) for email in (known, unknown)}
    assert {page.status_code for page in pages.values()} == {200}

    def same(page: httpx.Response, email: str) -> str:
        return _CSRF.sub("", page.text).replace(email, "<address>")

    assert same(pages[known], known) == same(pages[unknown], unknown)
    assert pages[known].headers.keys() == pages[unknown].headers.keys()
    await emailed_link(infra.maildir, known)
    # The known address's email went out after the unknown one was asked for: nothing was sent to the unknown.
    assert messages_to(infra.maildir, unknown) == []


async def test_an_expired_link_gets_a_page_that_offers_a_new_one(system, infra, db):
    intake = system["intake"].url
    email, _ = await agency_contact(intake)
    async with httpx.AsyncClient(base_url=intake) as browser:
        await ask_for_link(browser, email)
        link = await emailed_link(infra.maildir, email)
        await db.execute(
            "UPDATE intake.signin_links SET expires_at = now() - interval '1 second' WHERE email = $1", email
        )
        stale = await browser.get(link, headers=HTML)
        assert stale.status_code == 410 and "Get a new sign-in link" in stale.text
        form = await browser.get("/sign-in", headers=HTML)
        refused = await browser.post(
            "/sign-in/link", data={"token": link.split("token=")[1], "csrf_token": csrf_of(form)}, headers=HTML
        )
        assert refused.status_code == 410 and COOKIE not in browser.cookies


async def test_forms_without_their_token_are_refused(system, infra):
    intake = system["intake"].url
    email, _ = await agency_contact(intake)
    async with httpx.AsyncClient(base_url=intake) as browser:
        await browser.get("/sign-in", headers=HTML)
        for data in ({"email": email}, {"email": email, "csrf_token": "0" * 64}):
            refused = await browser.post("/sign-in", data=data, headers=HTML)
            assert refused.status_code == 403 and "was not sent from this site" in refused.text
        await ask_for_link(browser, email)
        await use_link(browser, await emailed_link(infra.maildir, email))
        # Another site's page posting sign-out: the session cookie goes along (same site), the token cannot.
        refused = await browser.post("/sign-out", data={"next": "/"}, headers=HTML)
        assert refused.status_code == 403
        assert (await introspect(intake, browser.cookies[COOKIE])).status_code == 200


async def test_sign_out_and_expiry_end_the_session_for_every_service(system, infra, db):
    intake = system["intake"].url
    async with httpx.AsyncClient(base_url=intake) as intake_client:
        sessions = IntakeSessions(intake_client, SERVICE_KEY, ttl_s=0)  # as routing or engagements ask
        for ending in ("sign-out", "expiry"):
            email, agency = await agency_contact(intake)
            async with httpx.AsyncClient(base_url=intake) as browser:
                await ask_for_link(browser, email)
                await use_link(browser, await emailed_link(infra.maildir, email))
                token = browser.cookies[COOKIE]
                assert (await sessions(token)).subject == agency
                if ending == "sign-out":
                    account = await browser.get("/account", headers=HTML)
                    out = await browser.post("/sign-out", data={"csrf_token": csrf_of(account)}, headers=HTML)
                    assert out.status_code == 303 and out.headers["location"] == "/sign-in?signed_out"
                    assert COOKIE not in browser.cookies
                    browser.cookies.set(COOKIE, token)  # a copy of the cookie kept elsewhere opens nothing
                else:
                    await db.execute(
                        "UPDATE intake.sessions SET expires_at = now() WHERE email = $1 AND expires_at > now()", email
                    )
                assert await sessions(token) is None
                gone = await browser.get("/account", headers=HTML)
                assert gone.status_code == 303 and gone.headers["location"] == "/sign-in?next=/account"


async def test_introspection_is_for_services_only(system, infra):
    intake = system["intake"].url
    assert (await introspect(intake, "x" * 43, key="cri-nobody-knows-this-key")).headers["www-authenticate"]
    assert (await introspect(intake, "x" * 43, key=STAFF["Authorization"].split()[1])).status_code == 403
    unknown = await introspect(intake, "x" * 43)
    assert unknown.status_code == 401 and "www-authenticate" not in unknown.headers


async def test_providers_and_staff_sign_in_as_themselves(system, infra):
    intake = system["intake"].url
    async with httpx.AsyncClient(base_url=intake, headers=SERVICE) as api:
        accepted = (await api.post("/v1/requests", json=sample_request())).json()

        async def routed():
            found = (await api.get(f"/v1/requests/{accepted['request_id']}")).json()
            return found if found["provider_id"] else None

        provider_id = (await eventually(routed, what="the request to be routed"))["provider_id"]
    registry = {p["provider_id"]: p for p in yaml.safe_load(RoutingSettings().providers_file.read_text())["providers"]}
    for email, role, subject in (
        (registry[provider_id]["contact_email"], "provider", provider_id),
        ("staff@cri-exchange.example", "staff", "staff@cri-exchange.example"),
    ):
        async with httpx.AsyncClient(base_url=intake) as browser:
            before = latest_sign_in_link(infra.maildir, email)
            await ask_for_link(browser, email)
            await use_link(browser, await emailed_link(infra.maildir, email, other_than=before))
            person = (await introspect(intake, browser.cookies[COOKIE])).json()
            assert (person["role"], person["subject"]) == (role, subject)


@pytest.fixture(scope="module")
def limited(private_system):
    """Intake alone with small limits, and a second intake process on the same database."""
    system = private_system(("intake",), env={"CRI_SIGNIN_LIMIT_PER_ADDRESS": "2", "CRI_SIGNIN_LIMIT_PER_CLIENT": "3"})
    second = start_services(
        system.infra,
        ("intake",),
        log_dir=system.infra.home / "logs-second",
        env={"CRI_SIGNIN_LIMIT_PER_ADDRESS": "2", "CRI_SIGNIN_LIMIT_PER_CLIENT": "3"},
    )["intake"]
    yield system.services["intake"].url, second.url
    second.stop()


async def test_link_requests_are_limited_per_address_and_per_client_across_processes(limited):
    first, second = limited
    address = f"{unique('limited')}@agency.example.gov"
    client_a = {"X-Forwarded-For": "198.51.100.7"}
    answers = []
    for url in (first, second, first):  # the same address through both processes
        async with httpx.AsyncClient(base_url=url) as browser:
            answers.append(await ask_for_link(browser, address, **client_a))
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Try again in" in answers[-1].text and int(answers[-1].headers["retry-after"]) > 0
    client_b = {"X-Forwarded-For": "203.0.113.9"}
    answers = []
    for number, url in enumerate((second, first, second, first)):  # new addresses, one client
        async with httpx.AsyncClient(base_url=url) as browser:
            answers.append(await ask_for_link(browser, f"{unique(f'client{number}')}@agency.example.gov", **client_b))
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
