"""The decision about one request: `decide` finds its tier by the tier rules, then its provider by score within
capacity; `assign_in_tier` finds the provider of a tier already decided (by a queue or an escalation)."""

from collections.abc import Sequence
from datetime import date
from typing import Literal, Self

from pydantic import Field, model_validator

from services.routing.domain import Strict
from services.routing.domain.policy import Policy
from services.routing.domain.providers import ProviderLoad, ProviderRecord
from services.routing.domain.scoring import ranked
from services.routing.domain.tier_rules import TIER_RULES
from shared.contract.events import ProviderScore
from shared.contract.requests import RequestForAssistance
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


def decide(request: RequestForAssistance, providers: Sequence[ProviderLoad], policy: Policy, today: date) -> Decision:
    rules = policy.rules
    signals = [rule(request, rules, today) for rule in TIER_RULES]
    fired = {signal.tier for signal in signals if signal.rules}
    asked = fired | {signal.tier for signal in signals if signal.review}
    candidate_tiers = [tier for tier in rules.precedence if tier in asked]
    rules_fired = [rule for signal in signals for rule in signal.rules]
    review = [reason for signal in signals for reason in signal.review]
    review += [f"conflicting signals: both {a} and {b} apply" for a, b in rules.review.conflicting if {a, b} <= fired]
    if not fired and not review:
        review = ["too thin to route: no tier's rule applies", *(signal.absent for signal in signals)]
    if review:
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

    tier = candidate_tiers[0]
    if len(fired) > 1:
        rules_fired.append(f"precedence.{tier}")
    return assign_in_tier(request, tier, providers, policy, today, rules_fired, candidate_tiers)


def assign_in_tier(
    request: RequestForAssistance,
    tier: Tier,
    providers: Sequence[ProviderLoad],
    policy: Policy,
    today: date,
    rules_fired: Sequence[str],
    candidate_tiers: Sequence[Tier] | None = None,
) -> Decision:
    """The best provider of a tier already decided (by the policy, an escalation, or a queue) with room, or the
    queue when none has room."""
    rules = list(rules_fired)
    candidates = ranked(request, tier, providers, policy, today)
    chosen = candidates[0][1].record if candidates and candidates[0][0].has_room else None
    if chosen is None:
        rules.append("queue.all_providers_full" if candidates else "queue.no_active_provider")
    return Decision(
        outcome="routed" if chosen else "queued",
        tier=tier,
        provider=chosen,
        rules_fired=rules,
        candidates=[candidate for candidate, _ in candidates],
        review_reasons=[],
        candidate_tiers=list(candidate_tiers) if candidate_tiers is not None else [tier],
        policy_version=policy.version,
    )
