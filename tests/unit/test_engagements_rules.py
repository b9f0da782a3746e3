"""Specification of the deadline clock that tests can shrink, and of escalation along the continuum."""

from datetime import UTC, datetime, timedelta

import pytest

from services.engagements.deadlines import DeadlineClock
from services.engagements.lifecycle import DEFAULT_DEADLINES, InvalidTransition, Milestone, escalate, load_deadlines
from shared.contract.vocabulary import Tier

OPENED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy():
    return load_deadlines(DEFAULT_DEADLINES)


def test_a_day_lasts_a_day_by_default(policy):
    assert DeadlineClock(policy).next(Tier.CRI_TAC, "accepted", OPENED) == ("scoping", OPENED + timedelta(days=14))


def test_a_shorter_day_scales_every_deadline(policy):
    clock = DeadlineClock(policy, day_seconds=0.5)
    assert clock.next(Tier.CRITICAL_RESPONSE, "accepted", OPENED) == ("first_contact", OPENED + timedelta(seconds=1))


def test_the_clock_has_no_deadline_once_closed(policy):
    assert DeadlineClock(policy, day_seconds=1).next(Tier.CRI_TAC, Milestone.CLOSED, OPENED) is None


def test_escalating_closes_the_engagement():
    assert escalate(Tier.CRI_TAC, "delivery", Tier.ORGANIZATIONAL_ASSESSMENT) == Milestone.CLOSED


def test_escalating_to_the_same_tier_is_refused_offering_the_other_tiers():
    with pytest.raises(InvalidTransition) as refused:
        escalate(Tier.CRI_TAC, "scoping", Tier.CRI_TAC)
    assert refused.value.allowed == ["critical_response", "organizational_assessment"]


def test_escalating_a_closed_engagement_is_refused():
    with pytest.raises(InvalidTransition, match="already closed"):
        escalate(Tier.CRI_TAC, Milestone.CLOSED, Tier.ORGANIZATIONAL_ASSESSMENT)
