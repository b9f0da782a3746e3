"""Specification of an Organizational Assessment's recommendations: when they are added, how they move."""

import pytest

from services.engagements.domain.lifecycle import LIFECYCLES, InvalidTransition
from services.engagements.domain.recommendations import (
    RecommendationStatus,
    can_add_recommendations,
    change_recommendation,
    propose_recommendation,
)
from shared.contract.vocabulary import Tier

ASSESSMENT = Tier.ORGANIZATIONAL_ASSESSMENT
EVERY_OPEN_STATUS = [(tier, status) for tier, stages in LIFECYCLES.items() for status in stages]


def refusal(call, *args) -> InvalidTransition:
    with pytest.raises(InvalidTransition) as refused:
        call(*args)
    return refused.value


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("proposed", "accepted"),
        ("proposed", "not_implemented"),
        ("proposed", "withdrawn"),
        ("accepted", "in_progress"),
        ("accepted", "implemented"),
        ("in_progress", "implemented"),
        ("in_progress", "not_implemented"),
        ("in_progress", "withdrawn"),
    ],
)
def test_a_recommendation_moves_forward(current, new):
    assert change_recommendation(RecommendationStatus(current), RecommendationStatus(new)) == new


@pytest.mark.parametrize(
    ("current", "new"),
    [("in_progress", "accepted"), ("accepted", "proposed"), ("proposed", "in_progress"), ("accepted", "accepted")],
)
def test_a_recommendation_never_goes_back_or_skips_acceptance(current, new):
    refused = refusal(change_recommendation, RecommendationStatus(current), RecommendationStatus(new))
    assert refused.reason == f"a recommendation cannot go from {current} to {new}"
    assert refused.allowed


@pytest.mark.parametrize("final", ["implemented", "not_implemented", "withdrawn"])
def test_a_final_recommendation_status_is_kept(final):
    refused = refusal(change_recommendation, RecommendationStatus(final), RecommendationStatus.IN_PROGRESS)
    assert refused.reason.endswith(f"{final} is final")
    assert refused.allowed == []


@pytest.mark.parametrize(("tier", "status"), EVERY_OPEN_STATUS)
def test_recommendations_are_added_only_to_an_assessment_in_findings_or_monitoring(tier, status):
    expected = tier is ASSESSMENT and status in ("findings_and_recommendations", "implementation_monitoring")
    assert can_add_recommendations(tier, status) is expected


def test_a_new_recommendation_is_proposed():
    assert propose_recommendation(ASSESSMENT, "findings_and_recommendations") == "proposed"


def test_proposing_outside_findings_or_monitoring_is_refused_offering_the_next_milestone():
    refused = refusal(propose_recommendation, ASSESSMENT, "assessment")
    assert "findings_and_recommendations or implementation_monitoring" in refused.reason
    assert refused.allowed == ["findings_and_recommendations"]
