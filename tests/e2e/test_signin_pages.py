"""The sign-in pages in a real headless Chromium, as a person uses them: a mistake, the emailed link (through
notify and the SMTP server), signed in, signed out, the used link again. Every page is screenshotted under
artifacts/ and checked with axe-core at desktop and 375 px: no serious or critical violation."""

import asyncio

import httpx
import pytest

from system.mail import latest_sign_in_link
from tests.support import SERVICE, eventually, sample_request, unique

pytestmark = pytest.mark.e2e


async def test_a_person_signs_in_and_out_in_a_browser(system, infra, browser):
    intake = system["intake"].url
    email = f"{unique('browser')}@agency.example.gov"
    async with httpx.AsyncClient(base_url=intake, headers=SERVICE) as api:
        assert (await api.post("/v1/requests", json=sample_request(contact__email=email))).status_code == 202
    problems = {}

    def page(name: str) -> str:
        problems[name] = browser.audit(f"sign-in-{name}")
        return browser.text()

    await asyncio.to_thread(browser.open, f"{intake}/sign-in")
    assert "Sign in to CRI Exchange" in await asyncio.to_thread(page, "form")
    assert "Sign in" not in await asyncio.to_thread(browser.text, "header.usa-header")  # no button to this page

    await asyncio.to_thread(browser.fill, {"email": "jlee at springfield"})
    await asyncio.to_thread(browser.click, "form.usa-form button[type=submit]")
    shown = await asyncio.to_thread(page, "form-error")
    assert "There is a problem" in shown and "Enter an email address like" in shown
    assert await asyncio.to_thread(browser.evaluate, "document.getElementById('email').value") == "jlee at springfield"
    assert await asyncio.to_thread(browser.evaluate, "document.querySelector('#error-summary a').hash") == "#email"
    assert (await asyncio.to_thread(browser.evaluate, "document.title")).startswith("Error: ")

    await asyncio.to_thread(browser.fill, {"email": email})
    await asyncio.to_thread(browser.click, "form.usa-form button[type=submit]")
    assert "Check your email" in await asyncio.to_thread(page, "sent")

    async def emailed():
        return latest_sign_in_link(infra.maildir, email)

    link = await eventually(emailed, what="the sign-in email")
    await asyncio.to_thread(browser.open, link)
    assert f"You are signing in as {email}" in await asyncio.to_thread(page, "link")
    await asyncio.to_thread(browser.click, "main form button[type=submit]")
    assert browser.url == f"{intake}/account"
    assert email in await asyncio.to_thread(page, "account")
    cookie = (await asyncio.to_thread(browser.cookies))["cri_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert "Signed in as" in await asyncio.to_thread(browser.text, "header.usa-header")

    await asyncio.to_thread(browser.click, "header.usa-header form button[type=submit]")
    assert "You have signed out" in await asyncio.to_thread(page, "signed-out")
    assert "cri_session" not in await asyncio.to_thread(browser.cookies)

    await asyncio.to_thread(browser.open, link)
    assert "This sign-in link can't be used" in await asyncio.to_thread(page, "stale")
    await asyncio.to_thread(browser.open, f"{intake}/account")
    assert browser.url == f"{intake}/sign-in?next=/account"

    assert {name: found for name, found in problems.items() if found} == {}
