"""SIGKILL a consumer service in the middle of a stream of requests; after its restart every request has been
applied exactly once: one routing decision, one engagement."""

import asyncio

import httpx
import pytest

from tests.support import SERVICE, eventually, sample_request

pytestmark = pytest.mark.e2e

REQUESTS = 120


@pytest.mark.parametrize("victim", ["routing", "engagements"])
async def test_a_killed_consumer_restarts_and_applies_every_request_once(system, db, victim):
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as client:
        request_ids = []
        for i in range(REQUESTS):
            if i == REQUESTS // 3:
                system[victim].kill()  # SIGKILL: no shutdown hook, no final commit
            response = await client.post("/v1/requests", json=sample_request())
            assert response.status_code == 202
            request_ids.append(response.json()["request_id"])
        system[victim].start()
        await asyncio.to_thread(system[victim].wait_ready)

    async def all_opened():
        return (
            await db.fetchval(
                "SELECT count(DISTINCT request_id) FROM engagements.engagements WHERE request_id = ANY($1::uuid[])",
                request_ids,
            )
            == REQUESTS
        )

    await eventually(all_opened, timeout_s=90, what=f"all {REQUESTS} requests to open an engagement")
    decisions = await db.fetch(
        "SELECT request_id, count(*) AS n FROM routing.decisions WHERE request_id = ANY($1::uuid[]) GROUP BY 1",
        request_ids,
    )
    engagements = await db.fetch(
        "SELECT request_id, count(*) AS n FROM engagements.engagements WHERE request_id = ANY($1::uuid[]) GROUP BY 1",
        request_ids,
    )
    assert len(decisions) == REQUESTS and {row["n"] for row in decisions} == {1}
    assert len(engagements) == REQUESTS and {row["n"] for row in engagements} == {1}
