"""What-if: a candidate policy replayed over the requests the policy in force has decided, and the report of what
it would change. Each past request is judged as it was decided: on its day, against the providers' loads of that
moment and the agency's history as it stood then. Each change says whether the candidate causes it (`policy`) or
the baseline, the policy in force, would decide so too (`loads`: the registry changed since, or the decision
had no loads recorded). The report also gives each policy's shares: per tier, per provider, review and queue."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple
from uuid import UUID

from services.routing.domain.decision import Decision, decide
from services.routing.domain.history import NO_HISTORY, AgencyHistory
from services.routing.domain.policy import Policy
from services.routing.domain.providers import ProviderLoad
from shared.contract.requests import AssistanceRequested


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
    request: AssistanceRequested
    decided: Outcome  # the latest decision the policy in force made
    rules: tuple[str, ...] = ()  # the rules it fired
    loads: Sequence[ProviderLoad] | None = None  # the loads it was made against; None: not recorded
    history: AgencyHistory = NO_HISTORY  # the agency's history when it was made


def rule_id(rule: str) -> str:
    """A fired rule without its detail: `text.protests: "protest" in the description` -> `text.protests`."""
    return rule.split(":", 1)[0]


@dataclass(frozen=True)
class Shares:
    """How a policy decides a set of requests: how many per tier, per provider, to review, to the queue."""

    decided: int
    per_tier: Counter[str]  # routed or queued with the tier
    per_provider: Counter[str]  # routed to the provider
    review: int
    queued: int

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> "Shares":
        return cls(
            len(outcomes),
            Counter(o.tier for o in outcomes if o.tier),
            Counter(o.provider_id for o in outcomes if o.provider_id),
            sum(1 for o in outcomes if o.outcome == "needs_review"),
            sum(1 for o in outcomes if o.outcome == "queued"),
        )

    def share(self, count: int) -> float:
        return round(count / self.decided, 4) if self.decided else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "decided": self.decided,
            "per_tier": {tier: self.share(n) for tier, n in sorted(self.per_tier.items())},
            "per_provider": {provider: self.share(n) for provider, n in sorted(self.per_provider.items())},
            "review_rate": self.share(self.review),
            "queue_rate": self.share(self.queued),
        }


@dataclass(frozen=True)
class Change:
    request_id: UUID
    before: Outcome
    after: Outcome
    cause: Literal["policy", "loads"]
    rules_after: tuple[str, ...] = ()  # the rule ids the candidate fires
    rules_before: tuple[str, ...] = ()  # the rule ids the decision fired


def _counts(keys: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(keys).items()))


@dataclass(frozen=True)
class Report:
    policy_version: str
    baseline_version: str
    replayed: int
    changes: list[Change]
    baseline: Shares  # the policy in force, replayed the same way
    candidate: Shares
    without_loads: int = 0  # past decisions with no loads recorded: judged against today's

    def by_kind(self) -> Counter[str]:
        """How many changes of each kind and cause, e.g. `routed -> needs_review (policy)`; `routed -> routed` is
        another provider."""
        return Counter(f"{c.before.outcome} -> {c.after.outcome} ({c.cause})" for c in self.changes)

    def by_tier(self) -> dict[str, int]:
        """Changes by tier, e.g. `cri_tac -> needs_review` (a decision without tier is named by its outcome)."""
        return _counts(
            [f"{c.before.tier or c.before.outcome} -> {c.after.tier or c.after.outcome}" for c in self.changes]
        )

    def by_provider(self) -> dict[str, int]:
        """Changes of provider, e.g. `iacp -> noble` (`-`: none)."""
        return _counts(
            [
                f"{c.before.provider_id or '-'} -> {c.after.provider_id or '-'}"
                for c in self.changes
                if c.before.provider_id != c.after.provider_id
            ]
        )

    def by_rule(self) -> dict[str, int]:
        """The rules the changed decisions fire under the candidate (`+rule`: the decision did not fire it; a rule
        both fire is one the candidate reads otherwise, as a text signal now sending to staff), and those they no
        longer fire (`-rule`)."""
        return _counts(
            [r if r in c.rules_before else f"+{r}" for c in self.changes for r in c.rules_after]
            + [f"-{r}" for c in self.changes for r in c.rules_before if r not in c.rules_after]
        )

    def caused_by_policy(self) -> int:
        return sum(1 for change in self.changes if change.cause == "policy")

    def as_json(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy_version,
            "baseline_version": self.baseline_version,
            "replayed": self.replayed,
            "without_loads": self.without_loads,
            "changed": len(self.changes),
            "changed_by_policy": self.caused_by_policy(),
            "by_kind": dict(self.by_kind()),
            "by_tier": self.by_tier(),
            "by_provider": self.by_provider(),
            "by_rule": self.by_rule(),
            "shares": {"baseline": self.baseline.as_json(), "candidate": self.candidate.as_json()},
            "changes": [
                {
                    "request_id": str(c.request_id),
                    "before": c.before._asdict(),
                    "after": c.after._asdict(),
                    "cause": c.cause,
                    "rules_before": list(c.rules_before),
                    "rules_after": list(c.rules_after),
                }
                for c in self.changes
            ],
        }

    def shares_table(self) -> list[str]:
        """The policy report: each share under the policy in force and under the candidate, side by side."""
        before, after = self.baseline.as_json(), self.candidate.as_json()
        rows = [("review rate", before["review_rate"], after["review_rate"])]
        rows.append(("queue rate", before["queue_rate"], after["queue_rate"]))
        for kind in ("per_tier", "per_provider"):
            for key in sorted(set(before[kind]) | set(after[kind])):
                rows.append(
                    (f"{kind.removeprefix('per_')} {key}", before[kind].get(key, 0.0), after[kind].get(key, 0.0))
                )
        title = f"share of {self.replayed} requests"
        width = max(len(title), *(len(row[0]) for row in rows))
        head = f"  {title:<{width}}  {self.baseline_version:>12}  {self.policy_version:>12}"
        return [head, *(f"  {name:<{width}}  {b:>12.1%}  {a:>12.1%}" for name, b, a in rows)]

    def as_text(self) -> str:
        lines = [
            f"Replayed {self.replayed} past decisions under policy {self.policy_version}: "
            f"{len(self.changes)} would change, {self.caused_by_policy()} of them because of the policy."
        ]
        if self.without_loads:
            lines.append(f"  ({self.without_loads} decided before loads were recorded: judged against today's loads)")
        lines += self.shares_table()
        for title, counts in (
            ("by kind", dict(sorted(self.by_kind().items()))),
            ("by tier", self.by_tier()),
            ("by provider", self.by_provider()),
            ("by rule", self.by_rule()),
        ):
            if counts:
                lines.append(f"Changes {title}:")
                lines += [f"  {key}: {count}" for key, count in counts.items()]
        lines += [f"  {c.request_id}  {c.before}  ->  {c.after}  ({c.cause})" for c in self.changes]
        return "\n".join(lines)


def replay(past: Sequence[PastRequest], loads: Sequence[ProviderLoad], policy: Policy, baseline: Policy) -> Report:
    """Decide every past request again under `policy` and under `baseline`, each as it was decided (on its day,
    against the loads recorded with its decision, with the agency's history of then; `loads`, today's, when none
    were recorded), and keep those whose outcome, tier or provider would differ from what was decided; a change
    the `baseline` makes too is the loads', not the candidate's."""
    changes, befores, afters = [], [], []
    for item in past:
        at_the_time = item.loads if item.loads is not None else loads
        decision = decide(item.request, at_the_time, policy, item.submitted_on, item.history)
        after = Outcome.of(decision)
        before = Outcome.of(decide(item.request, at_the_time, baseline, item.submitted_on, item.history))
        afters.append(after)
        befores.append(before)
        if after != item.decided:
            fired = tuple(dict.fromkeys(rule_id(r) for r in decision.rules_fired))
            was = tuple(dict.fromkeys(rule_id(r) for r in item.rules))
            cause: Literal["policy", "loads"] = "loads" if after == before else "policy"
            changes.append(Change(item.request_id, item.decided, after, cause, fired, was))
    return Report(
        policy.version,
        baseline.version,
        len(past),
        changes,
        Shares.of(befores),
        Shares.of(afters),
        sum(1 for item in past if item.loads is None),
    )
