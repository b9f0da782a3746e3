"""What-if replay: how a candidate policy would have decided the requests already routed, before it is put in force.

    python -m services.routing.replay --policy candidate.yaml [--baseline policy.yaml] [--database-url URL] [--json]

Reads routing.requests and each request's latest policy decision, decides every request again under the
candidate policy (the registry and loads as they are now; each request on the day it was submitted, so the
recent-incident window means what it meant then) and reports the decisions that would change. Loads move on
after a decision, so a provider may differ even under an unchanged policy: each change says whether the candidate
causes it (`policy`) or the policy in force, the baseline, would decide so today too (`loads`). Read-only: it runs
in a read-only transaction and publishes nothing. Exit status: 0 report printed, 2 unusable policy file.
"""

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple
from uuid import UUID

from services.routing import store
from services.routing.policy import Decision, Policy, PolicyError, ProviderLoad, decide, load_policy
from services.routing.settings import RoutingSettings
from shared.contract.requests import RequestForAssistance
from shared.runtime.db import connect


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
    """Decide every past request again under `policy` (pure) and keep those whose outcome, tier or provider
    would differ; a change the `baseline` policy would make too is the loads', not the candidate's."""
    changes = []
    for item in past:
        after = Outcome.of(decide(item.request, loads, policy, item.submitted_on))
        if after != item.decided:
            same_as_baseline = after == Outcome.of(decide(item.request, loads, baseline, item.submitted_on))
            changes.append(Change(item.request_id, item.decided, after, "loads" if same_as_baseline else "policy"))
    return Report(policy.version, len(past), changes)


async def _read(database_url: str) -> tuple[list[PastRequest], list[ProviderLoad]]:
    conn = await connect(database_url, "routing")
    try:
        async with conn.transaction(readonly=True):
            rows = await store.policy_decided_requests(conn)
            loads = await store.current_loads(conn)
    finally:
        await conn.close()
    past = [
        PastRequest(
            row["request_id"],
            row["submitted_at"].date(),
            RequestForAssistance.model_validate(row["request"]),
            Outcome(row["outcome"], row["tier"], row["provider_id"]),
        )
        for row in rows
    ]
    return past, loads


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.routing.replay", description=__doc__.split("\n")[0])
    parser.add_argument("--policy", type=Path, required=True, help="the candidate policy file")
    parser.add_argument("--baseline", type=Path, default=None, help="the policy in force; default: the service's")
    parser.add_argument("--database-url", default=None, help="default: CRI_DATABASE_URL, as the service reads it")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    settings = RoutingSettings()
    try:
        policy = load_policy(args.policy)
        baseline = load_policy(args.baseline or settings.policy_file)
    except PolicyError as exc:
        print(f"invalid policy: {exc}", file=sys.stderr)
        return 2
    past, loads = asyncio.run(_read(args.database_url or settings.database_url))
    report = replay(past, loads, policy, baseline)
    print(json.dumps(report.as_json(), indent=2) if args.json else report.as_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
