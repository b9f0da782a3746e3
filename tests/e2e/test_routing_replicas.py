"""Two routing replicas deciding at once never route a request twice nor give a provider more than its capacity.

A private system (intake and two routing processes, one consumer group) whose providers carry three engagements
each; no engagements service runs, so no place is ever freed and every routed request holds one."""

import asyncio
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml

from services.routing.settings import PROVIDERS_FILE
from system.stack.ports import free_port
from system.stack.runner import ServiceProcess
from tests.support import SERVICE, eventually, partitions_held, sample_request

pytestmark = pytest.mark.e2e

REQUESTS = 60
CAPACITY = 3
TOPICS = sample_request()["assistance"]["topic_areas"]  # what every request of this module asks for


@pytest.fixture(scope="module")
def two_replicas(private_system, tmp_path_factory):
    registry = yaml.safe_load(PROVIDERS_FILE.read_text())
    for provider in registry["providers"]:
        provider["capacity"] = CAPACITY
    path = Path(tmp_path_factory.mktemp("routing-replicas")) / "providers.yaml"
    path.write_text(yaml.safe_dump(registry))
    env = {"CRI_PROVIDERS_FILE": str(path)}
    system = private_system(names=("intake", "routing"), env=env)
    port = free_port()
    second = ServiceProcess(
        "routing", port, {**system.infra.service_env("routing", port), **env}, system.infra.home / "logs/routing-2.log"
    )
    system.services["routing-2"] = second  # stopped with the private system
    second.start().wait_ready()
    return system


async def test_two_replicas_under_concurrent_load_route_each_request_once_within_every_providers_capacity(
    two_replicas,
) -> None:
    replicas = [two_replicas.services["routing"], two_replicas.services["routing-2"]]

    async def both_consuming():  # the second member's join rebalances the group
        held = [partitions_held(replica.log_path) for replica in replicas]
        return held if all(held) and sorted(sum(held, [])) == list(range(12)) else None

    held = await eventually(both_consuming, timeout_s=60, what="the two replicas to split cri.requests")
    print(f"\ncri.requests partitions: routing {held[0]}, routing-2 {held[1]}")

    async with httpx.AsyncClient(base_url=two_replicas.services["intake"].url, headers=SERVICE) as intake:
        answers = await asyncio.gather(*(intake.post("/v1/requests", json=sample_request()) for _ in range(REQUESTS)))
    assert {a.status_code for a in answers} == {202}
    request_ids = [a.json()["request_id"] for a in answers]

    conn = await asyncpg.connect(two_replicas.infra.database_url)
    try:

        async def all_decided():
            decided = await conn.fetchval(
                "SELECT count(DISTINCT request_id) FROM routing.decisions WHERE request_id = ANY($1::uuid[])",
                request_ids,
            )
            return decided == REQUESTS

        await eventually(all_decided, timeout_s=90, what=f"a decision about each of {REQUESTS} requests")
        decisions = await conn.fetch(
            "SELECT request_id, count(*) AS n FROM routing.decisions WHERE request_id = ANY($1::uuid[]) GROUP BY 1",
            request_ids,
        )
        announced = await conn.fetch(
            "SELECT key, count(*) AS n FROM routing.outbox"
            " WHERE headers->>'event-type' IN ('RequestRouted', 'RequestQueued', 'RequestNeedsReview') GROUP BY 1"
        )
        routed = Counter(
            await conn.fetchval(
                "SELECT coalesce(array_agg(provider_id), '{}') FROM routing.requests WHERE outcome = 'routed'"
            )
        )
        # A provider may take a request only with expertise in a topic it asks for (policy 2026.2).
        providers = await conn.fetch(
            "SELECT provider_id, tier, active, (record->>'capacity')::int AS capacity,"
            " coalesce(record->'expertise', '[]') ?| $1::text[] AS specialist FROM routing.providers",
            TOPICS,
        )
        outcomes = dict(
            await conn.fetch(
                "SELECT outcome, count(*) FROM routing.requests WHERE request_id = ANY($1::uuid[]) GROUP BY 1",
                request_ids,
            )
        )
    finally:
        await conn.close()

    print(f"routed per provider: {dict(routed)}")
    assert {row["n"] for row in decisions} == {1}
    assert sorted(row["key"] for row in announced) == sorted(request_ids)
    assert {row["n"] for row in announced} == {1}
    for provider in providers:
        assert routed[provider["provider_id"]] == provider["active"] <= provider["capacity"]
    # Every request asks for CRI-TAC help: the tier's providers who may take it (specialists in its topics) fill up
    # exactly, and the rest wait for a specialist.
    places = sum(p["capacity"] for p in providers if p["tier"] == "cri_tac" and p["specialist"])
    assert places > 0
    assert outcomes == {"routed": places, "queued": REQUESTS - places}
