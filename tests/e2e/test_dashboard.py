"""The staff dashboard in a real headless Chromium (tests/browser.py): it shows the portfolio and follows it
live, without reload."""

import asyncio

import httpx
import pytest

from tests.support import SERVICE, STAFF_KEY, eventually, sample_request

pytestmark = pytest.mark.e2e


async def test_the_dashboard_follows_a_new_request_live_without_reload(system, browser):
    # A browser cannot send a bearer header: signing in keeps the staff key in the dashboard's cookie.
    browser.open(f"{system['engagements'].url}/dashboard/sign-in?key={STAFF_KEY}")

    async def live():
        state = await asyncio.to_thread(browser.evaluate, "document.getElementById('connection').textContent")
        return state == "live"

    await eventually(live, what="the dashboard to receive its first figures")
    await asyncio.to_thread(browser.evaluate, "window.notReloaded = true")
    body = sample_request()
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as intake:
        assert (await intake.post("/v1/requests", json=body)).status_code == 202

    async def shown():
        latest = await asyncio.to_thread(browser.evaluate, "document.getElementById('latest').textContent")
        return body["agency"]["name"] in latest

    await eventually(shown, what="the new engagement among the latest events")
    assert await asyncio.to_thread(browser.evaluate, "window.notReloaded") is True
    assert int(await asyncio.to_thread(browser.evaluate, "document.getElementById('total').textContent")) >= 1
    # Load against capacity, read from routing's registry with engagements' service key.
    capacity = await asyncio.to_thread(browser.evaluate, "document.getElementById('capacity').textContent")
    assert "of capacity" in capacity
    assert (await asyncio.to_thread(browser.screenshot, "dashboard")).stat().st_size > 0
