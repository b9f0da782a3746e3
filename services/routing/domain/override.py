"""Staff override (pure): whether program staff may put a request with a provider, and the decision recording it.

Staff route what the policy sent to review, and may reassign a request the policy routed or queued. They choose
within the registry: a provider that exists, delivers the chosen tier and is a partner today. Capacity is the
policy's rule, not staff's: a full provider is refused unless staff say `force`, which is recorded.
"""

from collections.abc import Sequence
from datetime import date

from services.routing.domain.decision import Decision
from services.routing.domain.providers import ProviderLoad
from shared.contract.vocabulary import Tier


class InvalidAssignment(ValueError):
    """The provider cannot take the request at all (unknown, another tier, not a partner today)."""


class NoRoom(ValueError):
    """The provider is at capacity and staff did not force the assignment."""


def staff_decision(
    loads: Sequence[ProviderLoad],
    tier: Tier,
    provider_id: str,
    *,
    held_provider_id: str | None,
    force: bool,
    today: date,
    policy_version: str,
) -> Decision:
    """The routed decision staff make; `held_provider_id` is the provider the request already holds a place with."""
    load = next((load for load in loads if load.record.provider_id == provider_id), None)
    if load is None:
        raise InvalidAssignment(f"unknown provider {provider_id!r}")
    record = load.record
    if record.tier != tier:
        raise InvalidAssignment(f"provider {provider_id!r} delivers {record.tier}, not {tier}")
    if not record.active_on(today):
        raise InvalidAssignment(f"provider {provider_id!r} is not a partner on {today}")
    rules_fired = ["staff.override"]
    # Staying with the provider whose place the request already holds takes no new place.
    if provider_id != held_provider_id and load.active >= record.capacity:
        if not force:
            raise NoRoom(
                f"provider {provider_id!r} carries {load.active} of {record.capacity} engagements;"
                " send force: true to assign beyond its capacity"
            )
        rules_fired.append("staff.over_capacity")
    return Decision(
        outcome="routed",
        tier=tier,
        provider=record,
        rules_fired=rules_fired,
        candidates=[],
        review_reasons=[],
        candidate_tiers=[tier],
        policy_version=policy_version,
    )
