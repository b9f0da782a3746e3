"""The staff dashboard in a real headless Chromium: it shows the portfolio and follows it live, without reload.
Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), so no driver package."""

import asyncio
import base64
import fcntl
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import SERVICE, STAFF_KEY, eventually, sample_request

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


class Browser:
    """Headless Chromium with one page; DevTools commands are NUL-terminated JSON on fds 3 (in) and 4 (out)."""

    def __init__(self, profile: Path) -> None:
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        def wire_pipes() -> None:  # runs in the child: its fd 3 reads our commands, its fd 4 takes replies
            # Move both ends out of the way first: either may already be fd 3 or 4.
            reading, writing = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser))
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self._process = subprocess.Popen(
            [
                str(CHROMIUM),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1280,900",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            preexec_fn=wire_pipes,
            pass_fds=(3, 4),  # kept open in the child once wired
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._next_id = 0
        self._buffer = b""
        self._session: str | None = None

    def send(self, method: str, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:  # events arrive between replies; skip them
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url=url)["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        os.close(self._commands)
        os.close(self._replies)
        self._process.terminate()
        self._process.wait(timeout=15)


@pytest.fixture
def browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    opened = Browser(tmp_path / "profile")
    yield opened
    opened.close()


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
    await asyncio.to_thread(browser.screenshot, ARTIFACTS / "dashboard.png")
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 0
