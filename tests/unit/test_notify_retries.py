"""When a failed delivery is tried again (full-jitter backoff), and when it is given up."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.deliveries import DeliveryFailed
from services.notify.domain.retries import RetryPolicy, retry_delay


class HighestDraw(random.Random):
    """Always draws the top of the range, to read the backoff ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_retry_ceiling_doubles_up_to_the_cap():
    delays = [retry_delay(attempt, base_s=1.0, cap_s=30.0, rng=HighestDraw()) for attempt in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@given(attempt=st.integers(min_value=1, max_value=10_000), seed=st.integers())
def test_a_retry_delay_is_never_negative_nor_above_the_cap(attempt, seed):
    assert 0 <= retry_delay(attempt, base_s=0.5, cap_s=60.0, rng=random.Random(seed)) <= 60.0


def test_attempts_count_from_one():
    with pytest.raises(ValueError):
        retry_delay(0, base_s=1.0, cap_s=30.0, rng=random.Random(0))


POLICY = RetryPolicy(max_attempts=3, base_s=1.0, cap_s=30.0)


def test_a_permanent_failure_is_given_up_at_once_with_its_reason():
    assert POLICY.given_up(DeliveryFailed("SMTP 550: no such user", permanent=True), 1) == "SMTP 550: no such user"


def test_a_temporary_failure_is_tried_again_until_the_last_attempt():
    failure = DeliveryFailed("SMTP 451: try later", permanent=False)
    assert [POLICY.given_up(failure, attempts) for attempts in (1, 2, 3)] == [
        None,
        None,
        "gave up after 3 attempts: SMTP 451: try later",
    ]


def test_the_policy_waits_within_the_backoff_ceiling():
    assert POLICY.delay(3, HighestDraw()) == 4.0
