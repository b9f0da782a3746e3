"""When a failed delivery is tried again, and when it is given up. The next try is a time written in the
delivery's row (a retry scheduled in the database, so it survives restarts and any replica can make it)."""

import random
from dataclasses import dataclass

from services.notify.domain.deliveries import DeliveryFailed


def retry_delay(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry `attempt` (1 = the first retry): uniform in [0, min(cap, base * 2^(attempt-1))].

    Full jitter spreads the retries of many deliveries failing together instead of sending them back in a herd.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    ceiling = min(cap_s, base_s * 2 ** min(attempt - 1, 60))  # the exponent is clamped so huge attempts cannot overflow
    return rng.uniform(0, ceiling)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`CRI_MAX_ATTEMPTS`, `CRI_RETRY_BASE_S`, `CRI_RETRY_CAP_S`."""

    max_attempts: int
    base_s: float
    cap_s: float

    def given_up(self, failure: DeliveryFailed, attempts: int) -> str | None:
        """Why a delivery whose try number `attempts` failed is given up; None while another try may succeed."""
        if failure.permanent:
            return failure.reason
        if attempts >= self.max_attempts:
            return f"gave up after {attempts} attempts: {failure.reason}"
        return None

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds until the next try after try number `attempts` failed."""
        return retry_delay(attempts, base_s=self.base_s, cap_s=self.cap_s, rng=rng)
