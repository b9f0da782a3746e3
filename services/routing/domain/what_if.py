"""What-if: a candidate policy replayed over the requests the policy in force has decided, and the report of what
it would change. Each change says whether the candidate causes it (`policy`) or the baseline, the policy in
force, would decide so today too (`loads`: loads move on after a decision)."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple
from uuid import UUID

from services.routing.domain.decision import Decision, decide
from services.routing.domain.policy import Policy
from services.routing.domain.providers import ProviderLoad
from shared.contract.requests import RequestForAssistance


class Outcome(NamedTuple):
    outcome: str
    tier: str | None
    provider_id: str | None

    @classmethod
    def of(cls, decision: Decision) -> "Outcome":
        return cls(
            decision.outcome,
            decision.tier.value if decision.tier else None,
            decision.provider.provider_id if decision.provider else None,
        )

    def __str__(self) -> str:
        return " ".join(part for part in (self.outcome, "/".join(filter(None, (self.tier, self.provider_id)))) if part)


@dataclass(frozen=True)
class PastRequest:
    request_id: UUID
    submitted_on: date
    request: RequestForAssistance
    decided: Outcome  # the latest decision the policy in force made


@dataclass(frozen=True)
class Change:
    request_id: UUID
    before: Outcome
    after: Outcome
    cause: Literal["policy", "loads"]


@dataclass(frozen=True)
class Report:
    policy_version: str
    replayed: int
    changes: list[Change]

    def by_kind(self) -> Counter[str]:
        """How many changes of each kind and cause, e.g. `routed -> needs_review (policy)`; `routed -> routed` is
        another provider."""
        return Counter(f"{c.before.outcome} -> {c.after.outcome} ({c.cause})" for c in self.changes)

    def caused_by_policy(self) -> int:
        return sum(1 for change in self.changes if change.cause == "policy")

    def as_json(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy_version,
            "replayed": self.replayed,
            "changed": len(self.changes),
            "changed_by_policy": self.caused_by_policy(),
            "by_kind": dict(self.by_kind()),
            "changes": [
                {
                    "request_id": str(c.request_id),
                    "before": c.before._asdict(),
                    "after": c.after._asdict(),
                    "cause": c.cause,
                }
                for c in self.changes
            ],
        }

    def as_text(self) -> str:
        lines = [
            f"Replayed {self.replayed} past decisions under policy {self.policy_version}: "
            f"{len(self.changes)} would change, {self.caused_by_policy()} of them because of the policy."
        ]
        lines += [f"  {kind}: {count}" for kind, count in sorted(self.by_kind().items())]
        lines += [f"  {c.request_id}  {c.before}  ->  {c.after}  ({c.cause})" for c in self.changes]
        return "\n".join(lines)


def replay(past: Sequence[PastRequest], loads: Sequence[ProviderLoad], policy: Policy, baseline: Policy) -> Report:
    """Decide every past request again under `policy` (each on the day it was submitted, so "recent" means what
    it meant then) and keep those whose outcome, tier or provider would differ; a change the `baseline` policy
    would make too is the loads', not the candidate's."""
    changes = []
    for item in past:
        after = Outcome.of(decide(item.request, loads, policy, item.submitted_on))
        if after != item.decided:
            same_as_baseline = after == Outcome.of(decide(item.request, loads, baseline, item.submitted_on))
            changes.append(Change(item.request_id, item.decided, after, "loads" if same_as_baseline else "policy"))
    return Report(policy.version, len(past), changes)
