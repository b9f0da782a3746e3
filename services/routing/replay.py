"""What-if replay and policy report: a candidate policy over the requests already decided, before it is in force.

    python -m services.routing.replay --policy candidate.yaml [--baseline policy.yaml] [--database-url URL] [--json]

Reads routing.requests and each request's latest policy decision, decides every request again under the
candidate policy and under the baseline (the policy in force), each as it was decided: on the day it was
submitted (so the recent-incident window means what it meant then), against the providers' loads recorded with
its decision (today's for decisions made before loads were recorded) and with its agency's history as it stood
then. Prints each policy's shares side by side (per tier, per provider, review rate, queue rate), then the
decisions that would change, counted by kind, tier, provider and rule; each change says whether the candidate
causes it (`policy`) or the baseline would decide so too (`loads`). A policy file with no lexicon beside it reads
the service's. Topics no provider covers are warned about on stderr. Read-only: it runs in a read-only
transaction and publishes nothing. Exit status: 0 report printed, 2 unusable policy file.

This module is the command line only: the use case is `commands.what_if`, the comparison `domain/what_if.py`.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from services.routing import SERVICE, commands
from services.routing.domain.policy import Policy, PolicyError, load_policy
from services.routing.domain.providers import load_providers
from services.routing.domain.scoring import uncovered_topics
from services.routing.domain.what_if import Report
from services.routing.settings import RoutingSettings
from shared.runtime.db import connect


async def _what_if(database_url: str, candidate: Policy, baseline: Policy) -> Report:
    conn = await connect(database_url, SERVICE)
    try:
        return await commands.what_if(conn, candidate, baseline)
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.routing.replay", description=__doc__.split("\n")[0])
    parser.add_argument("--policy", type=Path, required=True, help="the candidate policy file")
    parser.add_argument("--baseline", type=Path, default=None, help="the policy in force; default: the service's")
    parser.add_argument("--database-url", default=None, help="default: CRI_DATABASE_URL, as the service reads it")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    settings = RoutingSettings()
    try:
        policy = load_policy(args.policy, settings.policy_file.parent)
        baseline = load_policy(args.baseline or settings.policy_file, settings.policy_file.parent)
    except PolicyError as exc:
        print(f"invalid policy: {exc}", file=sys.stderr)
        return 2
    for tier, missing in uncovered_topics(policy, load_providers(settings.providers_file), date.today()).items():
        print(f"warning: policy {policy.version}: no {tier} provider covers {', '.join(missing)}", file=sys.stderr)
    report = asyncio.run(_what_if(args.database_url or settings.database_url, policy, baseline))
    print(json.dumps(report.as_json(), indent=2) if args.json else report.as_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
