"""A real headless Chromium for browser tests, driven over the DevTools protocol on a pipe
(--remote-debugging-pipe), so no driver package: open pages, fill and submit forms, read the DOM, set the
viewport, save full-page screenshots under artifacts/ and run axe-core (vendored in tests/vendor/axe-core by
scripts/vendor-uswds) on the page. Every browser test uses this one helper, through the `browser` fixture."""

import base64
import fcntl
import json
import os
import subprocess
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = (1280, 900)
MOBILE = (375, 812)
# What a page must meet: WCAG 2.1 A and AA (Section 508 refers to WCAG 2.0 AA, which these include).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


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
                f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
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
        self._page = 0  # counts documents, to know when a click or a navigation has loaded a new one

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
        """Load `url` in the page (the first call creates the page) and wait until it has loaded."""
        if self._session is None:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.send("Page.enable")
            self.send("Page.setBypassCSP", enabled=True)  # so axe-core can be injected into our strict pages
        self._mark()
        self.send("Page.navigate", url=url)
        self._wait_new_page(url)

    def evaluate(self, expression: str, *, wait: bool = False):
        """The value of a JavaScript expression in the page (`wait`: of the promise it returns)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=wait)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('exception', result)}")
        return result["result"].get("value")

    def fill(self, fields: dict[str, str]) -> None:
        """Type values into the form fields with these ids (a checkbox or radio button: "on" checks it, "" not)."""
        for field_id, value in fields.items():
            self.evaluate(
                f"(() => {{ const f = document.getElementById({json.dumps(field_id)});"
                f" if (!f) throw new Error('no field ' + {json.dumps(field_id)});"
                f" if (f.type === 'checkbox' || f.type === 'radio') f.checked = {json.dumps(value)} !== '';"
                f" else f.value = {json.dumps(value)}; }})()"
            )

    def click(self, selector: str) -> None:
        """Click the element (a submit button, a link) and wait for the page it loads."""
        self._mark()
        self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" if (!e) throw new Error('nothing matches ' + {json.dumps(selector)}); e.click(); }})()"
        )
        self._wait_new_page(selector)

    def text(self, selector: str = "main") -> str:
        return self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")

    @property
    def url(self) -> str:
        return self.evaluate("location.href")

    def cookies(self) -> dict[str, dict]:
        return {cookie["name"]: cookie for cookie in self.send("Network.getCookies")["cookies"]}

    def viewport(self, width: int, height: int) -> None:
        """Lay the page out as a screen `width` CSS pixels wide (375: a phone, emulated as mobile)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )

    def screenshot(self, name: str) -> Path:
        """The whole page (not only the viewport) as artifacts/<name>.png."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        )
        path = ARTIFACTS / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def axe(self) -> list[dict]:
        """axe-core's WCAG 2.1 A/AA violations on the page as it is: id, impact, help and the offending nodes."""
        if not self.evaluate("typeof axe !== 'undefined'"):
            self.evaluate(AXE.read_text())
        return self.evaluate(
            f"axe.run(document, {{runOnly: {{type: 'tag', values: {json.dumps(AXE_TAGS)}}}}})"
            ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' '))})))",
            wait=True,
        )

    def audit(self, name: str) -> list[dict]:
        """At desktop width and at 375 px: a screenshot (artifacts/<name>-desktop.png, <name>-mobile.png) and
        axe-core's serious or critical violations, each tagged with its viewport. Leaves the desktop layout."""
        found = []
        for label, (width, height) in (("mobile", MOBILE), ("desktop", DESKTOP)):
            self.viewport(width, height)
            self.screenshot(f"{name}-{label}")
            found += [{**violation, "viewport": label} for violation in serious(self.axe())]
        return found

    def close(self) -> None:
        os.close(self._commands)
        os.close(self._replies)
        self._process.terminate()
        self._process.wait(timeout=15)

    def _mark(self) -> None:
        self._page += 1
        if self._session is not None:
            self.evaluate(f"window.__criPage = {self._page}")

    def _wait_new_page(self, what: str, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                loaded = self.evaluate(
                    f"window.__criPage !== {self._page} && document.readyState === 'complete'"
                    " && location.href !== 'about:blank'"
                )
            except RuntimeError:  # the old document went away while we asked
                loaded = False
            if loaded:
                return
            time.sleep(0.05)
        raise AssertionError(f"no new page loaded after {what} within {timeout_s:.0f}s")


def serious(violations: list[dict]) -> list[dict]:
    """The violations that fail a page: serious and critical ones."""
    return [violation for violation in violations if violation["impact"] in ("serious", "critical")]
