"""How downstream events move a request's status in intake's read model, as pure rules."""

from datetime import UTC, datetime
from uuid import uuid4

from services.intake.domain.status import FOLLOWED_EVENTS, status_change
from shared.contract.events import EngagementStatusChanged, MilestoneReached, RequestQueued
from shared.contract.vocabulary import Tier

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_a_queued_request_keeps_its_tier_and_says_why_it_waits():
    change = status_change(RequestQueued(request_id=uuid4(), tier=Tier.CRI_TAC, reason="no capacity", queued_at=NOW))
    assert (change.status, change.detail["reason"], change.columns) == ("queued", "no capacity", {"tier": "cri_tac"})


def test_a_milestone_moves_the_request_in_progress_and_sets_no_column():
    event = MilestoneReached(
        engagement_id=uuid4(),
        request_id=uuid4(),
        tier=Tier.CRI_TAC,
        milestone="kickoff_held",
        reached_at=NOW,
        note="on site",
        recorded_by="provider",
    )
    change = status_change(event)
    assert (change.status, change.detail, change.columns) == (
        "in_progress",
        {"milestone": "kickoff_held", "note": "on site"},
        {},
    )


def test_events_that_move_no_status_are_not_followed():
    assert EngagementStatusChanged not in FOLLOWED_EVENTS
    assert {RequestQueued, MilestoneReached} <= set(FOLLOWED_EVENTS)
