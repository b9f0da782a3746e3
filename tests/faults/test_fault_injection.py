"""The whole system, as separate processes on real Apache Kafka and PostgreSQL, under a stream of requests while
faults strike at seeded-random moments (SIGKILL of each service, broker restarts graceful and hard, a broker
frozen past the session timeout, PostgreSQL stopped and killed): once it has drained, every accepted request
was applied exactly once everywhere and got exactly its notifications. Seed: CRI_FAULT_SEED (default 8)."""

import asyncio
import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest
import yaml

from services.routing.settings import RoutingSettings
from shared.contract import topics
from system.access import SETUP
from tests.faults import chaos
from tests.support import eventually, topic_records

pytestmark = pytest.mark.faults

SEED = int(os.environ.get("CRI_FAULT_SEED", "8"))
REQUESTS = 2_000
RATE = 25.0  # requests per second offered, so that the stream outlasts the faults
GAP_S = (2.0, 6.0)  # normal operation before each fault
# Intended notifications by routing outcome (default preferences: email only, no webhooks): the agency hears of
# its request, its routing and its engagement, the provider of its assignment; a review goes to staff instead.
NOTIFICATIONS = {"routed": 4, "needs_review": 2}
SCHEMAS = ("intake", "routing", "engagements", "notify")


@pytest.fixture(scope="module")
def chaos_system(private_system, tmp_path_factory):
    # Every provider with room for everything, so nothing waits in a queue for capacity that never frees.
    registry = yaml.safe_load(RoutingSettings().providers_file.read_text())
    for provider in registry["providers"]:
        provider["capacity"] = 100_000
    providers = Path(tmp_path_factory.mktemp("faults")) / "providers.yaml"
    providers.write_text(yaml.safe_dump(registry))
    return private_system(
        env={
            "CRI_PROVIDERS_FILE": str(providers),
            # Notify retries fast and takes back a killed dispatcher's claims soon.
            "CRI_RETRY_BASE_S": "0.2",
            "CRI_RETRY_CAP_S": "2",
            "CRI_MAX_ATTEMPTS": "200",
            "CRI_DISPATCH_LEASE_S": "5",
        }
    )


async def drained(pool: asyncpg.Pool, request_ids: list[str]) -> bool:
    """No outbox row waits anywhere and every request has its decision, engagement and settled notifications."""
    for schema in SCHEMAS:
        if await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"):  # noqa: S608
            return False
    unsettled = await pool.fetchval(
        """
        SELECT count(*) FROM unnest($1::uuid[]) AS r(request_id)
        LEFT JOIN routing.requests rr USING (request_id)
        WHERE rr.outcome IS NULL
           OR (rr.outcome = 'routed' AND NOT EXISTS (
                SELECT 1 FROM engagements.engagements e WHERE e.request_id = r.request_id))
           OR (SELECT count(*) FILTER (WHERE status <> 'pending') FROM notify.deliveries d
               WHERE d.request_id = r.request_id) < CASE rr.outcome WHEN 'routed' THEN $2::int ELSE $3::int END
        """,
        request_ids,
        NOTIFICATIONS["routed"],
        NOTIFICATIONS["needs_review"],
    )
    return unsettled == 0


async def per_request(pool: asyncpg.Pool, sql: str, request_ids: list[str]) -> Counter:
    rows = await pool.fetch(sql, request_ids)
    return Counter({str(row["request_id"]): row["n"] for row in rows})


@pytest.mark.timeout(600)
async def test_under_crashes_restarts_and_freezes_every_accepted_request_is_applied_once_and_notified_once(
    chaos_system, capsys
):
    rng = random.Random(SEED)
    started = time.monotonic()
    faults = asyncio.create_task(chaos.inject(chaos.faults_of(chaos_system, rng), rng, GAP_S))
    stream = chaos.Stream(chaos_system, random.Random(SEED + 1), minimum=REQUESTS, rate=RATE)
    accepted = await stream.run(done=faults.done)
    injected = await faults
    streamed_s = time.monotonic() - started

    pool = await asyncpg.create_pool(chaos_system.infra.database_url, min_size=1, max_size=4)
    try:
        by_key = dict(
            await pool.fetch(
                "SELECT key, request_id::text FROM intake.idempotency_keys WHERE key = ANY($1)", accepted.kafka_keys
            )
        )
        assert sorted(set(accepted.kafka_keys) - set(by_key)) == []  # every acknowledged record became a request
        request_ids = accepted.http + [by_key[key] for key in accepted.kafka_keys]
        assert len(set(request_ids)) == len(request_ids) == accepted.total  # no two clients got the same request

        await eventually(lambda: drained(pool, request_ids), timeout_s=240, interval_s=2, what="the system to drain")
        drained_s = time.monotonic() - started

        requests = await pool.fetchval("SELECT count(*) FROM intake.requests")
        routing = await pool.fetch(
            "SELECT request_id::text, outcome, tier FROM routing.requests WHERE request_id = ANY($1::uuid[])",
            request_ids,
        )
        decisions = await per_request(
            pool,
            "SELECT request_id, count(*) AS n FROM routing.decisions"
            " WHERE request_id = ANY($1::uuid[]) AND decided_by = 'policy' GROUP BY 1",
            request_ids,
        )
        engagements = await per_request(
            pool,
            "SELECT request_id, count(*) AS n FROM engagements.engagements"
            " WHERE request_id = ANY($1::uuid[]) GROUP BY 1",
            request_ids,
        )
        deliveries = await pool.fetch(
            "SELECT delivery_id::text, request_id::text, cause_event_id, role, channel, address, status, attempts"
            " FROM notify.deliveries WHERE request_id = ANY($1::uuid[])",
            request_ids,
        )
        booked = await pool.fetchval("SELECT sum(active) FROM routing.providers")
        submitted = [
            json.loads(record.value)
            for record in await topic_records(chaos_system.infra.kafka_settings(SETUP), topics.REQUESTS.name)
        ]
        emails = chaos.delivered_ids(chaos_system.infra.maildir)
    finally:
        await pool.close()

    outcomes = {row["request_id"]: row["outcome"] for row in routing}
    tiers = Counter(row["tier"] for row in routing if row["outcome"] == "routed")
    submitted = [event for event in submitted if event["type"] == "RequestSubmitted"]
    submitted_events = Counter(event["data"]["request_id"] for event in {e["event_id"]: e for e in submitted}.values())
    routed = [request for request in request_ids if outcomes.get(request) == "routed"]
    review = [request for request in request_ids if outcomes.get(request) == "needs_review"]
    per_delivery_request = Counter(d["request_id"] for d in deliveries)
    one_per_cause = Counter((d["cause_event_id"], d["role"], d["channel"], d["address"]) for d in deliveries)
    email_ids = {d["delivery_id"] for d in deliveries if d["channel"] == "email"}
    retried = {d["delivery_id"] for d in deliveries if d["attempts"] > 1}
    received = Counter(emails)
    repeated = {delivery for delivery, n in received.items() if n > 1}

    summary = chaos.table(
        f"fault injection (seed {SEED}): streamed {streamed_s:.0f}s, drained at {drained_s:.0f}s",
        [(f"{f.at_s:6.1f}s", f"{f.took_s:5.1f}s", f.name) for f in injected],
        ("at", "took", "fault"),
    )
    checks = [
        ("accepted (HTTP 202 / Kafka ack)", f"{len(accepted.http)} + {len(accepted.kafka_keys)}", accepted.total),
        ("client retries (HTTP / Kafka)", f"{accepted.http_retries} / {accepted.kafka_retries}", "-"),
        ("requests in intake", requests, accepted.total),
        ("RequestSubmitted (distinct ids / copies)", f"{sum(submitted_events.values())} / {len(submitted)}", "1 each"),
        ("policy decisions", sum(decisions.values()), "1 each"),
        ("routed / needs_review", f"{len(routed)} / {len(review)}", accepted.total),
        ("routed by tier", ", ".join(f"{tier} {n}" for tier, n in sorted(tiers.items())), "3 tiers"),
        ("engagements", sum(engagements.values()), f"{len(routed)} (routed)"),
        ("provider places booked", booked, len(routed)),
        ("deliveries (all sent)", len(deliveries), len(routed) * 4 + len(review) * 2),
        ("emails received / repeats", f"{sum(received.values())} / {len(repeated)}", f"{len(email_ids)} / retried"),
        (
            "duplicates (submitted, decisions, engagements, deliveries)",
            sum(n > 1 for c in (submitted_events, decisions, engagements, one_per_cause) for n in c.values()),
            0,
        ),
    ]
    with capsys.disabled():
        print("\n" + summary + "\n\n" + chaos.table("invariants", checks, ("check", "measured", "expected")) + "\n")

    assert requests == accepted.total  # no request lost, none created twice by a retry
    assert {r: submitted_events[r] for r in request_ids if submitted_events[r] != 1} == {}
    assert {r: decisions[r] for r in request_ids if decisions[r] != 1} == {}
    assert len(routed) + len(review) == accepted.total and review
    assert len(tiers) == 3
    assert {r: engagements[r] for r in routed if engagements[r] != 1} == {}
    assert [r for r in review if engagements[r]] == []
    assert booked == len(routed)
    expected = {r: NOTIFICATIONS[outcomes[r]] for r in request_ids}
    assert {r: (per_delivery_request[r], n) for r, n in expected.items() if per_delivery_request[r] != n} == {}
    assert max(one_per_cause.values()) == 1
    assert [d["delivery_id"] for d in deliveries if d["status"] != "sent"] == []
    assert email_ids <= set(received)  # nothing missing
    # A repeat only where a crash came between the SMTP server's acceptance and the record of it (see
    # tests/e2e/test_notify_delivery.py): that delivery was attempted again, under the same Message-ID.
    assert repeated <= retried
    assert all(received[delivery] == 2 for delivery in repeated)
