"""Which tier: one rule per tier, each reading the request and telling what it found (a `Signal`). `decide`
combines them: the rules that fire, the asks staff must confirm, and why the others do not apply.

A new rule is a function of the same shape listed in `TIER_RULES` (in the order its findings are reported),
with its settings as a section of the policy's `Rules`."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from services.routing.domain.policy import Rules
from shared.contract.requests import AssistanceRequested
from shared.contract.vocabulary import Tier


@dataclass(frozen=True)
class Signal:
    """What one tier's rule found in a request."""

    tier: Tier
    rules: tuple[str, ...] = ()  # rule ids; non-empty when the tier applies
    review: tuple[str, ...] = ()  # the agency asked for this tier's help, but the rule cannot confirm it
    absent: str = ""  # why the tier does not apply, told to staff when no tier does


def critical_response(request: AssistanceRequested, rules: Rules, today: date) -> Signal:
    """A recent incident, flagged, whose agency asks for Critical Response help."""
    tier, rule, incident = Tier.CRITICAL_RESPONSE, rules.critical_response, request.incident
    if incident is None:
        return Signal(tier, absent="no incident described")
    asked = ", ".join(sorted(set(incident.assistance) & set(rule.assistance)))
    if not asked:
        return Signal(tier, absent="the incident asks for no critical response assistance")
    age = (today - incident.occurred_on).days
    if age < 0:
        return Signal(tier, review=(f"the incident asks for {asked} but is future-dated: {incident.occurred_on}",))
    if age > rule.recent_days:
        return Signal(
            tier,
            review=(f"the incident asks for {asked} but is {age} days old, beyond the {rule.recent_days}-day window",),
        )
    flags = [flag for flag in rule.event_flags if getattr(incident, flag)]
    if not flags:
        return Signal(
            tier,
            review=(
                f"the incident asks for {asked} but is not flagged {' or '.join(rule.event_flags)}: "
                "staff to judge whether it is a sensitive issue",
            ),
        )
    return Signal(tier, rules=("critical_response.recent_event", *(f"critical_response.{flag}" for flag in flags)))


def organizational_assessment(request: AssistanceRequested, rules: Rules, today: date) -> Signal:
    """Systemic issues the assessment covers, with long-term assistance wanted and (by the policy) commitment."""
    tier, rule, concerns = Tier.ORGANIZATIONAL_ASSESSMENT, rules.organizational_assessment, request.systemic_concerns
    if concerns is None:
        return Signal(tier, absent="no systemic concerns described")
    if not set(concerns.issues) & set(rule.issues):
        return Signal(tier, absent="the systemic concerns name no issue the assessment rule covers")
    if not concerns.long_term_assistance_wanted:
        return Signal(tier, absent="systemic concerns are described but long-term assistance is not wanted")
    if concerns.commitment_to_implement:
        return Signal(tier, rules=("organizational_assessment.systemic_issues",))
    if rule.missing_commitment == "review":
        return Signal(tier, review=("an assessment is wanted but leadership has not committed to implement it",))
    return Signal(
        tier, rules=("organizational_assessment.systemic_issues", "organizational_assessment.commitment_to_confirm")
    )


def cri_tac(request: AssistanceRequested, rules: Rules, today: date) -> Signal:
    """Enough catalog topics asked for."""
    topics, rule = len(set(request.assistance.topic_areas)), rules.cri_tac
    if topics < rule.min_topics:
        return Signal(Tier.CRI_TAC, absent=f"{topics} topic areas requested; CRI-TAC needs at least {rule.min_topics}")
    return Signal(Tier.CRI_TAC, rules=("cri_tac.topic_areas",))


TierRule = Callable[[AssistanceRequested, Rules, date], Signal]

TIER_RULES: tuple[TierRule, ...] = (critical_response, organizational_assessment, cri_tac)
