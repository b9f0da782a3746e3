"""An agency's history with the program as routing has seen it: the decisions about its earlier requests and its
engagements (opened, escalated, closed), each dated, and what the policy's `agency_history` rules read in it.

The agency is recognised as intake recognises it (`agency_key`: its ORI, else its name within its state), from
the request `RequestReceived` carries; engagement facts come from the engagement events routing consumes."""

from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from services.routing.domain.policy import AgencyHistoryRules, HistoryAction
from shared.contract.requests import Agency
from shared.contract.vocabulary import Tier


def agency_key(agency: Agency) -> str:
    """One agency across requests: its ORI when it has one, else its name (case and spacing aside) within its
    state; the rule intake recognises an agency by."""
    return f"ori:{agency.ori}" if agency.ori else f"name:{agency.state}:{' '.join(agency.name.lower().split())}"


@dataclass(frozen=True)
class PastDecision:
    """One decision about an earlier request of the agency."""

    request_id: UUID
    decided_at: datetime
    outcome: str
    tier: str | None


@dataclass(frozen=True)
class PastEngagement:
    """One engagement of the agency, as the engagement events told routing."""

    engagement_id: UUID
    request_id: UUID
    tier: str
    opened_at: datetime
    closed_at: datetime | None = None
    outcome: str | None = None
    escalated_at: datetime | None = None
    escalated_to: str | None = None


@dataclass(frozen=True)
class AgencyHistory:
    decisions: tuple[PastDecision, ...] = ()
    engagements: tuple[PastEngagement, ...] = ()

    def as_of(self, moment: datetime, request_id: UUID) -> "AgencyHistory":
        """The history as it stood at `moment`, without the request being decided: what a decision made then
        could know (the what-if replay judges each past request by it)."""
        return AgencyHistory(
            tuple(d for d in self.decisions if d.decided_at < moment and d.request_id != request_id),
            tuple(
                replace(
                    e,
                    closed_at=e.closed_at if e.closed_at and e.closed_at < moment else None,
                    outcome=e.outcome if e.closed_at and e.closed_at < moment else None,
                    escalated_at=e.escalated_at if e.escalated_at and e.escalated_at < moment else None,
                    escalated_to=e.escalated_to if e.escalated_at and e.escalated_at < moment else None,
                )
                for e in self.engagements
                if e.opened_at < moment and e.request_id != request_id
            ),
        )

    def latest_decisions(self) -> list[PastDecision]:
        """Each earlier request's latest decision."""
        latest: dict[UUID, PastDecision] = {}
        for decision in sorted(self.decisions, key=lambda d: d.decided_at):
            latest[decision.request_id] = decision
        return list(latest.values())


NO_HISTORY = AgencyHistory()  # an agency routing has not seen before


@dataclass(frozen=True)
class HistorySignal:
    """A fact of the agency's history a rule of the policy read: recorded as `rule`, and a `review` reason for
    staff when the policy's action is review."""

    rule: str
    review: str | None


def _signal(name: str, fact: str, action: HistoryAction, reason: str) -> HistorySignal:
    return HistorySignal(f"history.{name}: {fact}", f"{reason}; staff to judge" if action == "review" else None)


def _within(moment: datetime, today: date, days: int) -> bool:
    return 0 <= (today - moment.date()).days <= days


def repeat_critical_response(history: AgencyHistory, rules: AgencyHistoryRules, today: date) -> date | None:
    """The day of the agency's latest Critical Response (routed, or its engagement opened) within the window."""
    window = rules.repeat_critical_response.within_days
    days = [d.decided_at for d in history.decisions if (d.outcome, d.tier) == ("routed", Tier.CRITICAL_RESPONSE)]
    days += [e.opened_at for e in history.engagements if e.tier == Tier.CRITICAL_RESPONSE]
    recent = [moment.date() for moment in days if _within(moment, today, window)]
    return max(recent, default=None)


def open_assessment(history: AgencyHistory) -> date | None:
    """Since when the agency's Organizational Assessment is under way: a request routed to it or waiting for a
    place, or an engagement open, and none of its assessment engagements closed."""
    closed = {e.request_id for e in history.engagements if e.tier == Tier.ORGANIZATIONAL_ASSESSMENT and e.closed_at}
    since = [
        d.decided_at
        for d in history.latest_decisions()
        if d.tier == Tier.ORGANIZATIONAL_ASSESSMENT and d.outcome in ("routed", "queued") and d.request_id not in closed
    ]
    since += [e.opened_at for e in history.engagements if e.tier == Tier.ORGANIZATIONAL_ASSESSMENT and not e.closed_at]
    return min(since).date() if since else None


def recent_escalation(history: AgencyHistory, rules: AgencyHistoryRules, today: date) -> PastEngagement | None:
    """The agency's latest engagement moved along the continuum within the window."""
    window = rules.recent_escalation.within_days
    escalated = [e for e in history.engagements if e.escalated_at and _within(e.escalated_at, today, window)]
    return max(escalated, key=lambda e: e.escalated_at, default=None)


def history_signals(
    history: AgencyHistory, leading: Tier | None, rules: AgencyHistoryRules, today: date
) -> list[HistorySignal]:
    """What the agency's history says about a request whose rules point first to `leading` (None: to no tier)."""
    signals = []
    repeat = repeat_critical_response(history, rules, today) if leading == Tier.CRITICAL_RESPONSE else None
    if repeat is not None:
        days = rules.repeat_critical_response.within_days
        signals.append(
            _signal(
                "repeat_critical_response",
                f"the agency had a Critical Response on {repeat}",
                rules.repeat_critical_response.action,
                f"the agency had a Critical Response on {repeat}, within {days} days: a second one may call for an "
                "organizational_assessment",
            )
        )
    under_way = open_assessment(history) if leading == Tier.CRI_TAC else None
    if under_way is not None:
        signals.append(
            _signal(
                "open_assessment",
                f"the agency's Organizational Assessment is under way since {under_way}",
                rules.open_assessment.action,
                f"the agency's organizational_assessment is under way since {under_way}: the training may belong to "
                "its recommendations",
            )
        )
    escalation = recent_escalation(history, rules, today)
    if escalation is not None:
        moved = f"from {escalation.tier} to {escalation.escalated_to} on {escalation.escalated_at.date()}"
        signals.append(
            _signal(
                "recent_escalation",
                f"an engagement of the agency was escalated {moved}",
                rules.recent_escalation.action,
                f"an engagement of the agency was escalated {moved}",
            )
        )
    return signals
