"""The recommendations of an Organizational Assessment: when they may be added and how their status moves
(pure rules). The last three statuses are final: they are what the final report states."""

from enum import StrEnum

from services.engagements.domain.lifecycle import InvalidTransition, Milestone, allowed_next
from shared.contract.vocabulary import Tier


class RecommendationStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"  # the agency committed to it
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    NOT_IMPLEMENTED = "not_implemented"  # the agency declined it, or did not carry it out
    WITHDRAWN = "withdrawn"  # the assessors retracted it, e.g. superseded by another


_MOVES: dict[RecommendationStatus, tuple[RecommendationStatus, ...]] = {
    RecommendationStatus.PROPOSED: (
        RecommendationStatus.ACCEPTED,
        RecommendationStatus.NOT_IMPLEMENTED,
        RecommendationStatus.WITHDRAWN,
    ),
    RecommendationStatus.ACCEPTED: (
        RecommendationStatus.IN_PROGRESS,
        RecommendationStatus.IMPLEMENTED,
        RecommendationStatus.NOT_IMPLEMENTED,
        RecommendationStatus.WITHDRAWN,
    ),
    RecommendationStatus.IN_PROGRESS: (
        RecommendationStatus.IMPLEMENTED,
        RecommendationStatus.NOT_IMPLEMENTED,
        RecommendationStatus.WITHDRAWN,
    ),
    RecommendationStatus.IMPLEMENTED: (),
    RecommendationStatus.NOT_IMPLEMENTED: (),
    RecommendationStatus.WITHDRAWN: (),
}


def can_add_recommendations(tier: Tier, status: str) -> bool:
    return tier is Tier.ORGANIZATIONAL_ASSESSMENT and status in (
        Milestone.FINDINGS_AND_RECOMMENDATIONS,
        Milestone.IMPLEMENTATION_MONITORING,
    )


def propose_recommendation(tier: Tier, status: str) -> RecommendationStatus:
    """The status a new recommendation starts in; refused outside an assessment's findings or monitoring."""
    if not can_add_recommendations(tier, status):
        raise InvalidTransition(
            "recommendations are added to an organizational assessment in findings_and_recommendations"
            " or implementation_monitoring",
            allowed_next(tier, status),
        )
    return RecommendationStatus.PROPOSED


def next_statuses(current: RecommendationStatus) -> list[RecommendationStatus]:
    """Where a recommendation in `current` may go; nothing from a final status."""
    return list(_MOVES[current])


def change_recommendation(current: RecommendationStatus, new: RecommendationStatus) -> RecommendationStatus:
    allowed = next_statuses(current)
    if new not in allowed:
        final = "" if allowed else f"; {current} is final"
        raise InvalidTransition(f"a recommendation cannot go from {current} to {new}{final}", allowed)
    return RecommendationStatus(new)
