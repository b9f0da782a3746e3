"""What the provider workspace's pages offer (domain/workspace.py): the next milestones as buttons with the detail each
asks for, closing outcomes apart from escalation, recommendation moves, deadlines and codes in words."""

from datetime import UTC, datetime, timedelta

import pytest

from services.engagements.domain.lifecycle import LIFECYCLES, Detail, allowed_next
from services.engagements.domain.workspace import (
    audit_detail,
    closing_outcomes,
    due,
    duration,
    escalation_tiers,
    milestone_actions,
    recommendation_moves,
    words,
)
from shared.contract.vocabulary import Tier

CRI_TAC, CRITICAL_RESPONSE, ASSESSMENT = Tier.CRI_TAC, Tier.CRITICAL_RESPONSE, Tier.ORGANIZATIONAL_ASSESSMENT


def test_codes_read_as_words():
    assert words("first_contact") == "First contact"
    assert words("cri_tac") == "CRI-TAC"
    assert words("organizational_assessment") == "Organizational Assessment"


@pytest.mark.parametrize(("tier", "status"), [(t, s) for t, stages in LIFECYCLES.items() for s in stages])
def test_the_buttons_are_exactly_what_the_lifecycle_accepts_next(tier, status):
    assert [action.milestone for action in milestone_actions(tier, status)] == allowed_next(tier, status)


def test_each_button_says_what_it_records_and_asks_for_the_detail_it_needs():
    [first_contact] = milestone_actions(CRITICAL_RESPONSE, "accepted")
    assert (first_contact.label, first_contact.detail) == ("Record first contact", None)
    [delivered] = milestone_actions(CRITICAL_RESPONSE, "first_contact")
    assert delivered.detail is Detail.ASSISTANCE_KIND
    [closeout] = milestone_actions(CRI_TAC, "delivery")
    assert closeout.detail is Detail.FEEDBACK
    progress, final = milestone_actions(ASSESSMENT, "implementation_monitoring")
    assert (progress.label, final.label) == ("Record progress report", "Record final report")


def test_a_closed_engagement_offers_nothing():
    assert milestone_actions(CRI_TAC, "closed") == []
    assert closing_outcomes(CRI_TAC, "closed") == []
    assert escalation_tiers(CRI_TAC, "closed") == []


def test_closing_offers_completed_only_at_the_end_and_never_escalated():
    assert closing_outcomes(CRI_TAC, "scoping") == ["withdrawn", "declined"]
    assert closing_outcomes(CRI_TAC, "closeout") == ["completed", "withdrawn", "declined"]


def test_escalation_offers_every_other_tier():
    assert escalation_tiers(CRI_TAC, "delivery") == [CRITICAL_RESPONSE, ASSESSMENT]


def test_recommendations_move_forward_until_final():
    assert recommendation_moves("proposed") == ["accepted", "not_implemented", "withdrawn"]
    assert recommendation_moves("implemented") == []


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due_at", "said"),
    [
        (NOW + timedelta(days=3), "due in 3 days"),
        (NOW + timedelta(days=1), "due in 1 day"),
        (NOW + timedelta(hours=2), "due today"),
        (NOW - timedelta(hours=2), "overdue since today"),
        (NOW - timedelta(days=2), "overdue by 2 days"),
    ],
)
def test_a_deadline_reads_in_days(due_at, said):
    assert due(due_at, NOW) == said


@pytest.mark.parametrize(
    ("seconds", "said"), [(59, "1 min"), (720, "12 min"), (12_600, "3.5 h"), (181_440, "2.1 days")]
)
def test_durations_read_as_people_say_them(seconds, said):
    assert duration(seconds) == said


def test_an_audit_entry_reads_in_words_in_its_own_order_without_ids():
    assert audit_detail({"provider": "iacp", "tier": "cri_tac"}) == "tier CRI-TAC, provider iacp"
    assert audit_detail({"to": "in_progress", "recommendation_id": "x", "from": "proposed"}) == (
        "from proposed, to in progress"
    )
    assert audit_detail({"detail": "after_action_review", "milestone": "assistance_delivered"}) == (
        "assistance delivered, detail after action review"
    )
    assert audit_detail({"milestone": "first_contact", "detail": None}) == "first contact"
