"""What the provider workspace's pages show, decided without I/O: the words for the program's codes, the next
milestones as buttons (with the detail each one asks for), how the engagement may close, where each
recommendation may go, and how a deadline reads. Templates only lay these out."""

from dataclasses import dataclass
from datetime import datetime

from services.engagements.domain import lifecycle, recommendations
from services.engagements.domain.lifecycle import Detail, Outcome
from services.engagements.domain.recommendations import RecommendationStatus
from shared.contract.vocabulary import Tier

_WORDS = {
    Tier.CRI_TAC: "CRI-TAC",
    Tier.CRITICAL_RESPONSE: "Critical Response",
    Tier.ORGANIZATIONAL_ASSESSMENT: "Organizational Assessment",
}


def words(code: str) -> str:
    """A code of the program in words for people: `first_contact` -> "First contact", `cri_tac` -> "CRI-TAC"."""
    return _WORDS.get(code) or code.replace("_", " ").capitalize()


# The order an audit entry's detail reads in (PostgreSQL's jsonb keeps its keys in an order of its own).
_DETAIL_ORDER = ("milestone", "detail", "outcome", "from_tier", "to_tier", "from", "to", "tier", "provider")


def audit_detail(detail: dict[str, object]) -> str:
    """An audit entry's detail in words: "tier CRI-TAC, provider iacp", "first contact"; ids are left out (the
    page shows what they name)."""
    shown = sorted(
        ((key, value) for key, value in detail.items() if value is not None and key in _DETAIL_ORDER),
        key=lambda item: _DETAIL_ORDER.index(item[0]),
    )
    return ", ".join(
        ("" if key == "milestone" else f"{key.replace('_', ' ')} ")
        + (_WORDS.get(value) or str(value).replace("_", " "))
        for key, value in shown
    )


@dataclass(frozen=True, slots=True)
class MilestoneAction:
    milestone: str
    label: str  # the button's words
    detail: Detail | None  # what the form must ask for with it


def milestone_actions(tier: Tier, status: str) -> list[MilestoneAction]:
    """The milestones that may be recorded now, each as a button: the next one, and a repeatable update."""
    return [
        MilestoneAction(milestone, f"Record {words(milestone).lower()}", lifecycle.detail_needed(tier, milestone))
        for milestone in lifecycle.allowed_next(tier, status)
    ]


def closing_outcomes(tier: Tier, status: str) -> list[str]:
    """Outcomes the closing form offers; escalation has its own form, because it names the next tier."""
    return [outcome for outcome in lifecycle.allowed_outcomes(tier, status) if outcome != Outcome.ESCALATED]


def escalation_tiers(tier: Tier, status: str) -> list[Tier]:
    """The tiers an open engagement may be escalated to: every other one."""
    return [other for other in Tier if other != tier] if lifecycle.is_open(status) else []


def recommendation_moves(status: str) -> list[RecommendationStatus]:
    return recommendations.next_statuses(RecommendationStatus(status))


def due(due_at: datetime, now: datetime) -> str:
    """A deadline in words: "due in 3 days", "due today", "overdue by 2 days"."""
    days = (due_at.date() - now.date()).days
    if due_at < now:
        late = max((now.date() - due_at.date()).days, 0)
        return "overdue since today" if late == 0 else f"overdue by {late} day{'s' if late != 1 else ''}"
    if days == 0:
        return "due today"
    return f"due in {days} day{'s' if days != 1 else ''}"


def duration(seconds: float) -> str:
    """A span of time as people say it: "12 min", "3.5 h", "2.1 days"."""
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
