"""Test helpers: unique sample requests, API keys, and bounded waits (never bare sleeps)."""

import asyncio
import copy
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shared.contract.requests import EXAMPLE_REQUEST

T = TypeVar("T")

# The default keys (shared/auth.py DEV_API_KEYS), which the session system and private systems accept.
STAFF_KEY = "cri-staff-dev-key"
SERVICE_KEY = "cri-service-dev-key"


def auth(key: str) -> dict[str, str]:
    """The headers that present `key`."""
    return {"Authorization": f"Bearer {key}"}


STAFF = auth(STAFF_KEY)
SERVICE = auth(SERVICE_KEY)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sample_request(**overrides: Any) -> dict[str, Any]:
    """A valid CRI-TAC request body with a unique agency, so tests never collide."""
    body = copy.deepcopy(EXAMPLE_REQUEST)
    body["agency"]["name"] = unique(body["agency"]["name"])
    for path, value in overrides.items():
        target = body
        *parents, leaf = path.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return body


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout_s: float = 30.0, what: str = "condition", interval_s: float = 0.2
) -> T:
    """Poll `probe` until it returns a truthy value; fail with `what` once the bound is reached."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last value: {last!r}")
