"""The decision about one request: `decide` finds its tier by the tier rules, weighed with what the agency wrote
(words may send a request to staff, never route it by themselves) and with its history, then its provider by
score within capacity; `assign_in_tier` finds the provider of a tier already decided (by a queue or an
escalation)."""

from collections.abc import Sequence
from datetime import date
from typing import Literal, Self

from pydantic import Field, model_validator

from services.routing.domain import Strict
from services.routing.domain.history import NO_HISTORY, AgencyHistory, history_signals
from services.routing.domain.lexicon import TextMatch, read_request
from services.routing.domain.policy import Policy
from services.routing.domain.providers import ProviderLoad, ProviderRecord
from services.routing.domain.scoring import partners, ranked, specialists
from services.routing.domain.tier_rules import TIER_RULES
from shared.contract.events import ProviderScore
from shared.contract.requests import AssistanceRequested
from shared.contract.vocabulary import Tier


class Decision(Strict):
    outcome: Literal["routed", "needs_review", "queued"]
    tier: Tier | None
    provider: ProviderRecord | None
    rules_fired: list[str]
    candidates: list[ProviderScore] = Field(description="Providers of the tier, best first.")
    review_reasons: list[str]
    candidate_tiers: list[Tier] = Field(
        default_factory=list, description="Tiers whose rules fired or whose asks staff must confirm, by precedence."
    )
    policy_version: str

    @model_validator(mode="after")
    def _outcome_is_complete(self) -> Self:
        match self.outcome:
            case "routed":
                complete = self.provider is not None and self.provider.tier == self.tier and not self.review_reasons
            case "queued":
                complete = self.tier is not None and self.provider is None and not self.review_reasons
            case "needs_review":
                complete = self.tier is None and self.provider is None and bool(self.review_reasons)
        if not complete:
            raise ValueError(f"an incomplete {self.outcome!r} decision")
        return self


def decide(
    request: AssistanceRequested,
    providers: Sequence[ProviderLoad],
    policy: Policy,
    today: date,
    history: AgencyHistory = NO_HISTORY,
) -> Decision:
    """The tier by the tier rules, weighed with what the agency wrote and its history; then the provider."""
    rules = policy.rules
    signals = [rule(request, rules, today) for rule in TIER_RULES]
    fired = {signal.tier for signal in signals if signal.rules}
    asked = fired | {signal.tier for signal in signals if signal.review}
    rules_fired = [rule for signal in signals for rule in signal.rules]
    review = [reason for signal in signals for reason in signal.review]
    review += [f"conflicting signals: both {a} and {b} apply" for a, b in rules.review.conflicting if {a, b} <= fired]
    if not fired and not review:
        review = ["too thin to route: no tier's rule applies", *(signal.absent for signal in signals)]
    text = read_request(request, policy.lexicon) if policy.lexicon else []
    rules_fired += [match.rule for match in text]
    raised = _raised_by_text(text, asked, policy)
    review += [_text_review(tier, matches) for tier, matches in raised.items()]
    leading = next((tier for tier in rules.precedence if tier in fired), None)
    found = history_signals(history, leading, policy.agency_history, today)
    rules_fired += [signal.rule for signal in found]
    review += [signal.review for signal in found if signal.review]
    candidate_tiers = [tier for tier in rules.precedence if tier in asked or tier in raised]
    if review:
        return to_review(rules_fired, review, candidate_tiers, policy)

    tier = candidate_tiers[0]
    if len(fired) > 1:
        rules_fired.append(f"precedence.{tier}")
    return assign_in_tier(request, tier, providers, policy, today, rules_fired, candidate_tiers)


def _raised_by_text(text: list[TextMatch], asked: set[Tier], policy: Policy) -> dict[Tier, list[TextMatch]]:
    """The tiers the agency's words point to although it asked nothing of them, which the policy lets words
    raise to staff, with the words (a term that only adds weight raises nothing)."""
    raised: dict[Tier, list[TextMatch]] = {}
    for match in text:
        tier = match.term.tier
        if match.term.raises_review and tier not in asked and tier in policy.text_signals.review_unasked:
            raised.setdefault(tier, []).append(match)
    return raised


def _text_review(tier: Tier, matches: list[TextMatch]) -> str:
    words = ", ".join(f'"{match.phrase}" in the {match.field}' for match in matches)
    return f"the text points to {tier} ({words}) but the agency asked for no {tier} help: staff to judge"


def to_review(rules_fired: list[str], review: list[str], candidate_tiers: list[Tier], policy: Policy) -> Decision:
    """A decision that staff route the request by hand, for these reasons."""
    return Decision(
        outcome="needs_review",
        tier=None,
        provider=None,
        rules_fired=rules_fired,
        candidates=[],
        review_reasons=review,
        candidate_tiers=candidate_tiers,
        policy_version=policy.version,
    )


def assign_in_tier(
    request: AssistanceRequested,
    tier: Tier,
    providers: Sequence[ProviderLoad],
    policy: Policy,
    today: date,
    rules_fired: Sequence[str],
    candidate_tiers: Sequence[Tier] | None = None,
) -> Decision:
    """The best provider with room of a tier already decided (by the policy, an escalation, or a queue) among
    those who may take the request; the queue when none of them has room; staff when the tier has partners but
    none covers the topics asked for."""
    rules = list(rules_fired)
    tiers = list(candidate_tiers) if candidate_tiers is not None else [tier]
    eligible = partners(tier, providers, today)
    able = specialists(request, tier, eligible, policy)
    if eligible and not able:
        topics = ", ".join(sorted(request.assistance.topic_areas))
        rules.append("choice.no_specialist")
        return to_review(rules, [f"no {tier} provider covers the topics asked for: {topics}"], tiers, policy)
    candidates = ranked(request, tier, able, policy)
    chosen = candidates[0][1].record if candidates and candidates[0][0].has_room else None
    if chosen is None:
        if not candidates:
            rules.append("queue.no_active_provider")
        else:
            rules.append("queue.all_specialists_full" if len(able) < len(eligible) else "queue.all_providers_full")
    return Decision(
        outcome="routed" if chosen else "queued",
        tier=tier,
        provider=chosen,
        rules_fired=rules,
        candidates=[candidate for candidate, _ in candidates],
        review_reasons=[],
        candidate_tiers=tiers,
        policy_version=policy.version,
    )
