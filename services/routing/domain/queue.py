"""The waiting queue: a request no provider of its tier has room for waits, urgent first, then by time queued,
at most the policy's `max_wait_days` before staff place it by hand; one program staff must route by hand waits
for them. A withdrawn request leaves either."""

from services.routing.domain.decision import Decision, to_review
from services.routing.domain.policy import Policy
from shared.contract.requests import AssistanceRequested
from shared.contract.vocabulary import Tier, Urgency


def queue_priority(request: AssistanceRequested) -> int:
    """Position class in the waiting queue: sort ascending (urgent first), then by time queued."""
    return {Urgency.URGENT: 0, Urgency.PRIORITY: 1, Urgency.ROUTINE: 2}[request.urgency]


WAITING = frozenset({"queued", "needs_review"})


def leaves_on_withdrawal(outcome: str) -> bool:
    """Whether the agency's withdrawal takes a request out of routing: only one still waiting (for a place, or
    for staff), which holds no provider's place, so nothing is freed. A request routing already gave a provider
    is not withdrawn here: its place is booked for the engagement that opens for it, and is freed once, when
    that engagement closes (a second release would hand the provider a place it does not have)."""
    return outcome in WAITING


def waited_too_long(tier: Tier, policy: Policy) -> Decision:
    """A request that waited for a place beyond the policy's maximum goes to staff."""
    days = policy.provider_choice.max_wait_days
    return to_review(
        [f"queue.max_wait: waited more than {days} days for a place"],
        [f"waited for a place with a {tier} provider beyond the {days}-day maximum: staff to place it"],
        [tier],
        policy,
    )
