"""Rebuild the CRI engagement portfolio from the `cri.engagements.state` topic, as a dashboard outside CRI Exchange
would: with a Kafka client, a JSON Schema validator and the published schemas, and nothing else of the project.

    pip install aiokafka jsonschema
    python portfolio.py                  # a table: engagements by tier and status, overdue, each provider's load
    python portfolio.py --json           # the portfolio as JSON, one entry per engagement

Connection, like `cri`: CRI_KAFKA_BOOTSTRAP_SERVERS, else the `bootstrap_servers` of a `cri up` system's
.cri/stack.json. A broker that wants a login: CRI_KAFKA_SECURITY_PROTOCOL (SASL_PLAINTEXT, SASL_SSL),
CRI_KAFKA_SASL_MECHANISM (default SCRAM-SHA-512), CRI_KAFKA_SASL_USERNAME and CRI_KAFKA_SASL_PASSWORD, and
CRI_KAFKA_SSL_CAFILE for TLS; else the dashboard login (`cri-dashboard`) of the stack file's `kafka_users`.
Schemas: --schemas FOLDER (default CRI_SCHEMAS, else the repository's shared/contract/schemas/).

The topic is compacted and keyed by engagement id: the latest snapshot of each engagement is the portfolio.
How it reads (docs/contract.md): each message is an envelope; its `data` is validated against the schema of its
type and version. The versions of an event are FULL compatible, so a version newer than the folder knows is read
with the newest schema it has, ignoring the fields it does not know.
"""

import argparse
import asyncio
import json
import os
import re
import ssl
import sys
from collections import Counter, defaultdict
from contextlib import suppress
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from jsonschema import Draft202012Validator, ValidationError

TOPIC = "cri.engagements.state"
SNAPSHOT = "EngagementSnapshot"
DEFAULT_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "contract" / "schemas"
STACK_FILE = Path(".cri") / "stack.json"
_VERSIONED = re.compile(r"^(\w+)\.v(\d+)\.json$")


class Contract:
    """The published schemas: the envelope, and each event type's versions."""

    def __init__(self, folder: Path) -> None:
        self.envelope = Draft202012Validator(_tolerant(json.loads((folder / "Envelope.json").read_text())))
        self.versions: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        for path in folder.glob("*.json"):
            if match := _VERSIONED.match(path.name):
                self.versions[match.group(1)][int(match.group(2))] = json.loads(path.read_text())

    def read(self, value: bytes) -> tuple[str, dict[str, Any]]:
        """The type and payload of one message, validated; raises ValueError (not JSON), ValidationError, or
        KeyError (a type the folder does not have)."""
        envelope = json.loads(value)
        self.envelope.validate(envelope)
        known = self.versions[envelope["type"]]
        if envelope["version"] in known:  # a version the folder has: its writer's schema, exactly
            schema = known[envelope["version"]]
        else:  # newer: the newest schema known reads it (FULL compatibility), ignoring what it does not know
            schema = _tolerant(known[max(known)])
        Draft202012Validator(schema).validate(envelope["data"])
        return envelope["type"], envelope["data"]


def _tolerant(schema: Any) -> Any:
    """The schema without `additionalProperties: false`: a reader ignores fields it does not know."""
    if isinstance(schema, dict):
        return {k: _tolerant(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_tolerant(v) for v in schema]
    return schema


def connection() -> dict[str, Any]:
    """aiokafka keyword arguments from the environment, else from a `cri up` system's stack file."""
    stack = json.loads(STACK_FILE.read_text()) if STACK_FILE.exists() else {}
    bootstrap = os.environ.get("CRI_KAFKA_BOOTSTRAP_SERVERS") or stack.get("bootstrap_servers")
    if not bootstrap:
        sys.exit("no broker: set CRI_KAFKA_BOOTSTRAP_SERVERS or run `cri up` in this folder")
    options: dict[str, Any] = {"bootstrap_servers": bootstrap}
    protocol = os.environ.get("CRI_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    username, password = os.environ.get("CRI_KAFKA_SASL_USERNAME"), os.environ.get("CRI_KAFKA_SASL_PASSWORD")
    if protocol == "PLAINTEXT" and "cri-dashboard" in stack.get("kafka_users", {}):
        protocol, username, password = "SASL_PLAINTEXT", "cri-dashboard", stack["kafka_users"]["cri-dashboard"]
    if protocol != "PLAINTEXT":
        options["security_protocol"] = protocol
    if protocol.startswith("SASL"):
        options |= {
            "sasl_mechanism": os.environ.get("CRI_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }
    if protocol.endswith("SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=os.environ.get("CRI_KAFKA_SSL_CAFILE"))
    return options


async def latest_snapshots(contract: Contract) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The latest snapshot of every engagement on the topic as of now, and the messages that could not be read."""
    # No group: every partition is this reader's, from the beginning, and nothing is committed.
    consumer = AIOKafkaConsumer(TOPIC, **connection(), enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = sorted(consumer.assignment())
        end = await consumer.end_offsets(partitions)
        latest: dict[str, dict[str, Any]] = {}
        unread: list[str] = []
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    key = record.key.decode() if record.key else ""
                    if record.value is None:  # a tombstone: the engagement left the topic
                        latest.pop(key, None)
                        continue
                    try:
                        event_type, data = contract.read(record.value)
                    except (ValueError, KeyError, ValidationError) as exc:  # reported, and the reader goes on
                        unread.append(f"{record.partition}@{record.offset}: {exc!r}"[:300])
                        continue
                    if event_type == SNAPSHOT and data["version"] >= latest.get(key, {}).get("version", -1):
                        latest[key] = data
        return latest, unread
    finally:
        with suppress(asyncio.CancelledError):  # aiokafka 0.14, a consumer without a group: its own task's
            await consumer.stop()


def portfolio(snapshots: dict[str, dict[str, Any]]) -> dict[str, Any]:
    by_tier: dict[str, Counter] = defaultdict(Counter)
    providers: dict[str, Counter] = defaultdict(Counter)
    for snapshot in snapshots.values():
        by_tier[snapshot["tier"]][snapshot["status"]] += 1
        providers[snapshot["provider"]["provider_id"]]["closed" if snapshot["closed_at"] else "open"] += 1
    return {
        "engagements": len(snapshots),
        "overdue": sum(1 for s in snapshots.values() if s["overdue"]),
        "by_tier": {tier: dict(statuses) for tier, statuses in sorted(by_tier.items())},
        "providers": {provider: dict(counts) for provider, counts in sorted(providers.items())},
        "by_engagement": {
            key: {
                "tier": s["tier"],
                "status": s["status"],
                "provider_id": s["provider"]["provider_id"],
                "agency": s["agency"]["name"],
                "overdue": s["overdue"],
                "version": s["version"],
            }
            for key, s in sorted(snapshots.items())
        },
    }


def show(summary: dict[str, Any], unread: list[str]) -> None:
    print(f"{summary['engagements']} engagements, {summary['overdue']} overdue")
    for tier, statuses in summary["by_tier"].items():
        print(f"  {tier:<28} " + ", ".join(f"{status} {n}" for status, n in sorted(statuses.items())))
    print("providers (open / closed):")
    for provider, counts in summary["providers"].items():
        print(f"  {provider:<28} {counts.get('open', 0):>5} / {counts.get('closed', 0)}")
    for problem in unread:
        print(f"unread: {problem}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description="The CRI engagement portfolio, from cri.engagements.state.")
    parser.add_argument("--schemas", type=Path, default=Path(os.environ.get("CRI_SCHEMAS", DEFAULT_SCHEMAS)))
    parser.add_argument("--json", action="store_true", help="print the portfolio as JSON")
    args = parser.parse_args()
    snapshots, unread = asyncio.run(latest_snapshots(Contract(args.schemas)))
    summary = portfolio(snapshots)
    if args.json:
        print(json.dumps({**summary, "unread": unread}, indent=2))
    else:
        show(summary, unread)


if __name__ == "__main__":
    main()
