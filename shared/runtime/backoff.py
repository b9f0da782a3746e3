"""One backoff for every loop that waits after a failure (broker or database away, a relay that lost its
connection, a batch to redeliver): exponential, capped, with jitter so replicas do not retry in step."""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """Counts consecutive failures; `failed()` returns how long to wait before the next try, `succeeded()` resets.

    The delay doubles from `first_s` per failure up to `cap_s`; a jitter of up to a fifth shortens it at random.
    """

    first_s: float = 0.5
    cap_s: float = 10.0
    failures: int = field(default=0, init=False)

    def failed(self) -> float:
        self.failures += 1
        delay = min(self.cap_s, self.first_s * 2 ** (self.failures - 1))
        return delay * (1 - random.random() / 5)

    def succeeded(self) -> None:
        self.failures = 0

    async def wait(self) -> float:
        """Count a failure and sleep its delay; returns the delay slept."""
        delay = self.failed()
        await asyncio.sleep(delay)
        return delay


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    transient: tuple[type[BaseException], ...],
    what: str,
    log: logging.Logger,
    backoff: Backoff | None = None,
    attempts: int | None = None,
    between: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """`attempt()` until it succeeds; a `transient` failure is logged (naming `what`) and retried after the
    backoff's delay, up to `attempts` tries (for ever when None). `between` runs after each failure (cleanup)."""
    backoff = backoff or Backoff()
    while True:
        try:
            return await attempt()
        except transient as exc:
            if attempts is not None and backoff.failures + 1 >= attempts:
                raise
            delay = backoff.failed()
            log.error("%s is unreachable (%s); retrying in %.1fs (attempt %d)", what, exc, delay, backoff.failures)
            if between is not None:
                await between()
            await asyncio.sleep(delay)
