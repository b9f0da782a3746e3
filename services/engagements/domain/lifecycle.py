"""What an engagement may do next: each tier's milestones and how engagements close (pure rules).

An engagement's status is the last milestone it reached. It moves one milestone forward at a time, never back,
and ends in `closed`, which is terminal and reached only through `close()` with an outcome: `completed` from the
tier's last milestone, and `withdrawn`, `escalated` or `declined` from any open status (work can stop early;
it cannot finish early).
"""

from enum import StrEnum

from shared.contract.vocabulary import CriticalAssistance, Tier


class Milestone(StrEnum):
    ACCEPTED = "accepted"
    # CRI-TAC
    SCOPING = "scoping"
    DELIVERY = "delivery"
    CLOSEOUT = "closeout"
    # Critical Response
    FIRST_CONTACT = "first_contact"
    ASSISTANCE_DELIVERED = "assistance_delivered"
    REPORT_DELIVERED = "report_delivered"
    # Organizational Assessment
    KICKOFF = "kickoff"
    ASSESSMENT = "assessment"
    FINDINGS_AND_RECOMMENDATIONS = "findings_and_recommendations"
    IMPLEMENTATION_MONITORING = "implementation_monitoring"
    PROGRESS_REPORT = "progress_report"
    FINAL_REPORT = "final_report"
    # Every tier's terminal status; only close() reaches it, because closing needs an outcome.
    CLOSED = "closed"


# Each tier's statuses in order; `closed` follows the last one.
LIFECYCLES: dict[Tier, tuple[Milestone, ...]] = {
    Tier.CRI_TAC: (Milestone.ACCEPTED, Milestone.SCOPING, Milestone.DELIVERY, Milestone.CLOSEOUT),
    Tier.CRITICAL_RESPONSE: (
        Milestone.ACCEPTED,
        Milestone.FIRST_CONTACT,
        Milestone.ASSISTANCE_DELIVERED,
        Milestone.REPORT_DELIVERED,
    ),
    Tier.ORGANIZATIONAL_ASSESSMENT: (
        Milestone.KICKOFF,
        Milestone.ASSESSMENT,
        Milestone.FINDINGS_AND_RECOMMENDATIONS,
        Milestone.IMPLEMENTATION_MONITORING,
        Milestone.FINAL_REPORT,
    ),
}

# Updates recorded any number of times while in a status, leaving the status as it is.
_UPDATES: dict[tuple[Tier, Milestone], Milestone] = {
    (Tier.ORGANIZATIONAL_ASSESSMENT, Milestone.IMPLEMENTATION_MONITORING): Milestone.PROGRESS_REPORT,
}

# An assessment is opened by its kickoff meeting with the agency, so for that tier first contact is the opening.
_FIRST_CONTACT: dict[Tier, Milestone] = {
    Tier.CRI_TAC: Milestone.SCOPING,
    Tier.CRITICAL_RESPONSE: Milestone.FIRST_CONTACT,
    Tier.ORGANIZATIONAL_ASSESSMENT: Milestone.KICKOFF,
}

_ASSISTANCE_KINDS = frozenset(CriticalAssistance)


class Outcome(StrEnum):
    COMPLETED = "completed"  # the work is done
    WITHDRAWN = "withdrawn"  # the agency withdrew its request
    ESCALATED = "escalated"  # moved along the continuum: an engagement of another tier carries on
    # The program or provider stopped: no case for an objective after-action review, a site that will not
    # commit to the recommendations.
    DECLINED = "declined"


class Detail(StrEnum):
    """What a milestone must be recorded with, besides a note."""

    ASSISTANCE_KIND = "assistance_kind"  # one of CriticalAssistance: what Critical Response reports count
    FEEDBACK = "feedback"  # the agency's own words on the training or assistance


_DETAILS: dict[tuple[Tier, str], Detail] = {
    (Tier.CRITICAL_RESPONSE, Milestone.ASSISTANCE_DELIVERED): Detail.ASSISTANCE_KIND,
    (Tier.CRI_TAC, Milestone.CLOSEOUT): Detail.FEEDBACK,
}


class InvalidTransition(ValueError):
    """A step the rules refuse; `allowed` lists what may be done instead from the same state."""

    def __init__(self, reason: str, allowed: list[str]) -> None:
        super().__init__(f"{reason} (allowed: {', '.join(allowed) or 'nothing'})")
        self.reason = reason
        self.allowed = allowed


def initial_status(tier: Tier) -> str:
    return LIFECYCLES[tier][0]


def is_open(status: str) -> bool:
    return status != Milestone.CLOSED


def first_contact_milestone(tier: Tier) -> str:
    """The milestone whose time counts as first contact with the agency, for the "time to first contact" metric."""
    return _FIRST_CONTACT[tier]


def repeatable_updates(tier: Tier) -> list[Milestone]:
    """Updates recorded any number of times while in one status of `tier` (an assessment's progress reports)."""
    return [update for (t, _), update in _UPDATES.items() if t == tier]


def allowed_next(tier: Tier, status: str) -> list[str]:
    """Milestones that `record_milestone` accepts from `status`: the tier's next one, and any repeatable update."""
    if status == Milestone.CLOSED:
        return []
    stages = LIFECYCLES[tier]
    following = list(stages[_position(tier, status) + 1 :][:1])
    update = _UPDATES.get((tier, status))
    return [update, *following] if update else following


def detail_needed(tier: Tier, milestone: str) -> Detail | None:
    """The detail `record_milestone` requires with `milestone` in `tier`, if any."""
    return _DETAILS.get((tier, milestone))


def record_milestone(tier: Tier, status: str, milestone: str, *, detail: str | None = None) -> str:
    """The status after recording `milestone`. Critical Response `assistance_delivered` needs the kind of
    assistance as `detail`; CRI-TAC `closeout` needs the agency's feedback."""
    allowed = allowed_next(tier, status)
    if milestone not in allowed:
        raise InvalidTransition(_refusal(tier, status, milestone), allowed)
    if problem := _detail_problem(tier, milestone, detail):
        raise InvalidTransition(problem, allowed)
    return Milestone(status) if milestone == _UPDATES.get((tier, status)) else Milestone(milestone)


def allowed_outcomes(tier: Tier, status: str) -> list[str]:
    """Outcomes `close` accepts from `status`: all of them from the tier's last milestone, all but `completed`
    before it."""
    if status == Milestone.CLOSED:
        return []
    if _position(tier, status) == len(LIFECYCLES[tier]) - 1:
        return list(Outcome)
    return [outcome for outcome in Outcome if outcome is not Outcome.COMPLETED]


def close(tier: Tier, status: str, outcome: str) -> str:
    allowed = allowed_outcomes(tier, status)
    if outcome in allowed:
        return Milestone.CLOSED
    if status == Milestone.CLOSED:
        reason = "the engagement is already closed"
    elif outcome not in list(Outcome):
        reason = f"{outcome!r} is not an outcome"
    else:
        reason = f"completed needs {LIFECYCLES[tier][-1]} first; an engagement can stop early, not finish early"
    raise InvalidTransition(reason, allowed)


def escalate(tier: Tier, status: str, to_tier: Tier) -> str:
    """The status after moving an open engagement along the continuum to another tier: closed, as escalated."""
    if to_tier == tier and is_open(status):
        others = [t.value for t in Tier if t != tier]
        raise InvalidTransition(f"the engagement is already {tier}; escalation moves it to another tier", others)
    return close(tier, status, Outcome.ESCALATED)


def _position(tier: Tier, status: str) -> int:
    stages = LIFECYCLES[tier]
    if status not in stages:
        raise InvalidTransition(f"{status!r} is not a status of the {tier} lifecycle", [])
    return stages.index(status)


def _refusal(tier: Tier, status: str, milestone: str) -> str:
    stages = LIFECYCLES[tier]
    if status == Milestone.CLOSED:
        return "the engagement is closed; nothing more can be recorded"
    if milestone == Milestone.CLOSED:
        return "an engagement is closed through close(), with an outcome"
    if during := [s for (t, s), update in _UPDATES.items() if t == tier and update == milestone]:
        return f"{milestone} is recorded only while in {', '.join(during)}"
    if milestone not in stages:
        return f"{milestone!r} is not a milestone of the {tier} lifecycle"
    here, there = _position(tier, status), stages.index(milestone)
    if there <= here:
        return f"{milestone} was already reached; an engagement never goes back"
    return f"{milestone} would skip {', '.join(stages[here + 1 : there])}"


def _detail_problem(tier: Tier, milestone: str, detail: str | None) -> str | None:
    needed = detail_needed(tier, milestone)
    if needed is Detail.ASSISTANCE_KIND and detail not in _ASSISTANCE_KINDS:
        return f"{milestone} needs the kind of assistance as detail, one of: {', '.join(CriticalAssistance)}"
    if needed is Detail.FEEDBACK and not (detail and detail.strip()):
        return f"{milestone} needs the agency's feedback as detail"
    return None
