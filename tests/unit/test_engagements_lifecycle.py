"""Specification of engagement lifecycles: milestones, closing rules and escalation along the continuum."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.engagements.domain.lifecycle import (
    LIFECYCLES,
    InvalidTransition,
    Milestone,
    Outcome,
    allowed_next,
    allowed_outcomes,
    close,
    escalate,
    first_contact_milestone,
    initial_status,
    is_open,
    record_milestone,
)
from shared.contract.vocabulary import CriticalAssistance, Tier

CRI_TAC, CRITICAL_RESPONSE, ASSESSMENT = Tier.CRI_TAC, Tier.CRITICAL_RESPONSE, Tier.ORGANIZATIONAL_ASSESSMENT
EVERY_OPEN_STATUS = [(tier, status) for tier, stages in LIFECYCLES.items() for status in stages]


def refusal(call, *args, **kwargs) -> InvalidTransition:
    with pytest.raises(InvalidTransition) as refused:
        call(*args, **kwargs)
    return refused.value


# Lifecycles


@pytest.mark.parametrize(
    ("tier", "first"), [(CRI_TAC, "accepted"), (CRITICAL_RESPONSE, "accepted"), (ASSESSMENT, "kickoff")]
)
def test_an_engagement_opens_in_its_tiers_first_status(tier, first):
    assert initial_status(tier) == first
    assert is_open(first)


def test_cri_tac_goes_accepted_scoping_delivery_closeout_closed():
    status = initial_status(CRI_TAC)
    status = record_milestone(CRI_TAC, status, "scoping")
    status = record_milestone(CRI_TAC, status, "delivery")
    status = record_milestone(CRI_TAC, status, "closeout", detail="Agency rated the training 5/5.")
    assert status == "closeout"
    assert close(CRI_TAC, status, Outcome.COMPLETED) == "closed"


def test_critical_response_goes_accepted_first_contact_assistance_report_closed():
    status = initial_status(CRITICAL_RESPONSE)
    status = record_milestone(CRITICAL_RESPONSE, status, "first_contact")
    status = record_milestone(CRITICAL_RESPONSE, status, "assistance_delivered", detail="after_action_review")
    status = record_milestone(CRITICAL_RESPONSE, status, "report_delivered")
    assert status == "report_delivered"
    assert close(CRITICAL_RESPONSE, status, Outcome.COMPLETED) == "closed"


def test_organizational_assessment_goes_kickoff_to_final_report_then_closed():
    status = initial_status(ASSESSMENT)
    for milestone in ("assessment", "findings_and_recommendations", "implementation_monitoring", "final_report"):
        status = record_milestone(ASSESSMENT, status, milestone)
        assert status == milestone
    assert close(ASSESSMENT, status, Outcome.COMPLETED) == "closed"


def test_allowed_next_offers_the_following_milestone_only():
    assert allowed_next(CRI_TAC, "accepted") == ["scoping"]
    assert allowed_next(CRITICAL_RESPONSE, "first_contact") == ["assistance_delivered"]
    assert allowed_next(ASSESSMENT, "assessment") == ["findings_and_recommendations"]


def test_the_last_milestone_offers_no_milestone_but_every_outcome():
    assert allowed_next(CRI_TAC, "closeout") == []
    assert allowed_outcomes(CRI_TAC, "closeout") == list(Outcome)


def test_skipping_a_milestone_is_refused_naming_what_would_be_skipped():
    refused = refusal(record_milestone, CRI_TAC, "accepted", "closeout", detail="Great.")
    assert refused.reason == "closeout would skip scoping, delivery"
    assert refused.allowed == ["scoping"]


def test_going_back_is_refused():
    refused = refusal(record_milestone, CRITICAL_RESPONSE, "report_delivered", "first_contact")
    assert "already reached" in refused.reason
    assert refused.allowed == []


def test_recording_the_current_milestone_again_is_refused():
    refused = refusal(record_milestone, ASSESSMENT, "assessment", "assessment")
    assert "already reached" in refused.reason
    assert refused.allowed == ["findings_and_recommendations"]


def test_nothing_is_recorded_after_closed():
    refused = refusal(record_milestone, CRI_TAC, "closed", "scoping")
    assert "closed" in refused.reason
    assert refused.allowed == []
    assert not is_open("closed")


def test_an_unknown_milestone_is_refused():
    refused = refusal(record_milestone, CRI_TAC, "accepted", "lunch")
    assert refused.reason == "'lunch' is not a milestone of the cri_tac lifecycle"
    assert refused.allowed == ["scoping"]


def test_a_milestone_of_another_tier_is_refused():
    refused = refusal(record_milestone, CRI_TAC, "accepted", "first_contact")
    assert "not a milestone of the cri_tac lifecycle" in refused.reason


def test_an_unknown_current_status_is_refused():
    refused = refusal(record_milestone, CRI_TAC, "kickoff", "scoping")
    assert refused.reason == "'kickoff' is not a status of the cri_tac lifecycle"


def test_closed_is_reached_through_close_not_as_a_milestone():
    refused = refusal(record_milestone, CRI_TAC, "closeout", "closed")
    assert "close()" in refused.reason


@pytest.mark.parametrize("kind", [None, "", "coffee"])
def test_assistance_delivered_needs_a_known_kind_of_assistance(kind):
    refused = refusal(record_milestone, CRITICAL_RESPONSE, "first_contact", "assistance_delivered", detail=kind)
    assert "kind of assistance" in refused.reason
    assert "peer_exchange" in refused.reason
    assert refused.allowed == ["assistance_delivered"]


@pytest.mark.parametrize("kind", list(CriticalAssistance))
def test_assistance_delivered_accepts_every_kind_the_contract_names(kind):
    assert record_milestone(CRITICAL_RESPONSE, "first_contact", "assistance_delivered", detail=kind) == (
        "assistance_delivered"
    )


@pytest.mark.parametrize("feedback", [None, "   "])
def test_closeout_needs_the_agencys_feedback(feedback):
    refused = refusal(record_milestone, CRI_TAC, "delivery", "closeout", detail=feedback)
    assert refused.reason == "closeout needs the agency's feedback as detail"


def test_first_contact_is_scoping_for_cri_tac_first_contact_for_critical_response_kickoff_for_assessment():
    assert first_contact_milestone(CRI_TAC) == "scoping"
    assert first_contact_milestone(CRITICAL_RESPONSE) == "first_contact"
    assert first_contact_milestone(ASSESSMENT) == "kickoff"


# Progress reports


def test_progress_reports_repeat_while_monitoring_without_changing_the_status():
    assert allowed_next(ASSESSMENT, "implementation_monitoring") == ["progress_report", "final_report"]
    status = "implementation_monitoring"
    for _ in range(3):
        status = record_milestone(ASSESSMENT, status, "progress_report", detail="Q report published.")
    assert status == "implementation_monitoring"


def test_a_progress_report_outside_monitoring_is_refused():
    refused = refusal(record_milestone, ASSESSMENT, "findings_and_recommendations", "progress_report")
    assert refused.reason == "progress_report is recorded only while in implementation_monitoring"
    assert refused.allowed == ["implementation_monitoring"]


# Closing


@pytest.mark.parametrize(
    ("tier", "status"),
    [(CRI_TAC, "delivery"), (CRITICAL_RESPONSE, "accepted"), (ASSESSMENT, "implementation_monitoring")],
)
def test_completed_is_refused_before_the_last_milestone(tier, status):
    refused = refusal(close, tier, status, Outcome.COMPLETED)
    assert refused.reason.startswith(f"completed needs {LIFECYCLES[tier][-1]} first")
    assert refused.allowed == ["withdrawn", "escalated", "declined"]


@pytest.mark.parametrize("outcome", [Outcome.WITHDRAWN, Outcome.ESCALATED, Outcome.DECLINED])
@pytest.mark.parametrize(("tier", "status"), EVERY_OPEN_STATUS)
def test_an_engagement_can_stop_early_from_any_open_status(tier, status, outcome):
    assert close(tier, status, outcome) == "closed"


def test_closing_a_closed_engagement_is_refused():
    refused = refusal(close, CRITICAL_RESPONSE, "closed", Outcome.WITHDRAWN)
    assert refused.reason == "the engagement is already closed"
    assert refused.allowed == []


def test_an_unknown_outcome_is_refused():
    refused = refusal(close, CRITICAL_RESPONSE, "report_delivered", "vanished")
    assert refused.reason == "'vanished' is not an outcome"
    assert refused.allowed == list(Outcome)


# Escalation


def test_escalating_closes_the_engagement():
    assert escalate(Tier.CRI_TAC, "delivery", Tier.ORGANIZATIONAL_ASSESSMENT) == Milestone.CLOSED


def test_escalating_to_the_same_tier_is_refused_offering_the_other_tiers():
    with pytest.raises(InvalidTransition) as refused:
        escalate(Tier.CRI_TAC, "scoping", Tier.CRI_TAC)
    assert refused.value.allowed == ["critical_response", "organizational_assessment"]


def test_escalating_a_closed_engagement_is_refused():
    with pytest.raises(InvalidTransition, match="already closed"):
        escalate(Tier.CRI_TAC, Milestone.CLOSED, Tier.ORGANIZATIONAL_ASSESSMENT)


# Property: the documented graph holds whatever is attempted

ANY_MILESTONE = st.sampled_from([*Milestone, "lunch"])
ANY_DETAIL = st.sampled_from([None, "", *CriticalAssistance, "Agency feedback."])
ANY_OUTCOME = st.sampled_from([*Outcome, "vanished"])


@settings(max_examples=150, database=None)
@given(tier=st.sampled_from(Tier), data=st.data())
def test_no_sequence_of_attempts_leaves_the_documented_graph(tier, data):
    stages = LIFECYCLES[tier]
    status = initial_status(tier)
    for _ in range(data.draw(st.integers(0, 30), label="attempts")):
        was_open = is_open(status)
        # Closing is tried one time in ten, so that most runs get past the first milestones.
        if data.draw(st.integers(0, 9)) == 0:
            offered, outcome = allowed_outcomes(tier, status), data.draw(ANY_OUTCOME)
            try:
                new = close(tier, status, outcome)
            except InvalidTransition as refused:
                assert refused.allowed == offered
                continue
            assert outcome in offered
            assert new == "closed"
        else:
            offered = allowed_next(tier, status)
            # Half the attempts take what is offered, again to get deep; the others try anything.
            guided = offered and data.draw(st.booleans())
            milestone = data.draw(st.sampled_from(offered) if guided else ANY_MILESTONE)
            try:
                new = record_milestone(tier, status, milestone, detail=data.draw(ANY_DETAIL))
            except InvalidTransition as refused:
                assert refused.allowed == offered
                continue
            assert milestone in offered
            assert new == status if milestone == "progress_report" else new == milestone
            assert stages.index(new) >= stages.index(status)
        assert was_open, "closed is terminal"
        status = new
