"""A request waits while its tier's providers are full and is routed when an engagement closes and frees a place.

A private system (all four services) whose Critical Response provider carries one engagement at a time. There is
no engagement HTTP API to close one yet, so the test publishes the engagements service's EngagementClosed itself,
with the shared contract."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from services.routing.settings import PROVIDERS_FILE
from shared.contract.envelope import Envelope
from shared.contract.events import EngagementClosed, ProviderRef
from shared.contract.vocabulary import Tier
from system.ops import kafka_client
from system.stack.runner import Infrastructure
from tests.support import SERVICE, STAFF, eventually, sample_request

pytestmark = pytest.mark.e2e

CRITICAL_RESPONSE_PROVIDER = "national-policing-institute"


@pytest.fixture(scope="module")
def one_place_system(private_system, tmp_path_factory):
    registry = yaml.safe_load(PROVIDERS_FILE.read_text())
    for provider in registry["providers"]:
        if provider["provider_id"] == CRITICAL_RESPONSE_PROVIDER:
            provider["capacity"] = 1
    path = Path(tmp_path_factory.mktemp("routing-queue")) / "providers.yaml"
    path.write_text(yaml.safe_dump(registry))
    return private_system(env={"CRI_PROVIDERS_FILE": str(path)})


def critical_response_request() -> dict:
    incident = {
        "summary": "Officer-involved shooting during a protest.",
        "occurred_on": (date.today() - timedelta(days=5)).isoformat(),
        "high_profile": True,
        "assistance": ["after_action_review"],
    }
    return sample_request(incident=incident)


async def close_engagement(infra: Infrastructure, status: dict) -> None:
    """What the engagements service will publish when staff close an engagement (logged in as it)."""
    closed = EngagementClosed(
        engagement_id=status["engagement_id"],
        request_id=status["request_id"],
        tier=Tier(status["tier"]),
        provider=ProviderRef(provider_id=status["provider_id"], name=status["provider_name"]),
        outcome="completed",
        closed_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(closed, source="engagements", correlation_id=status["request_id"])
    producer = AIOKafkaProducer(**kafka_client(infra.kafka_settings("cri-engagements"), acks="all"))
    await producer.start()
    try:
        await producer.send_and_wait(
            closed.topic, envelope.model_dump_json().encode(), key=str(closed.engagement_id).encode()
        )
    finally:
        await producer.stop()


async def test_a_request_queued_for_a_full_tier_is_routed_when_an_engagement_of_that_tier_closes(
    one_place_system,
) -> None:
    async with httpx.AsyncClient(base_url=one_place_system.services["intake"].url, headers=SERVICE) as intake:

        async def submitted_and(wanted: str) -> dict:
            request_id = (await intake.post("/v1/requests", json=critical_response_request())).json()["request_id"]
            return await status_of(request_id, wanted)

        async def status_of(request_id: str, wanted: str) -> dict:
            async def reached():
                status = (await intake.get(f"/v1/requests/{request_id}")).json()
                return status if status["status"] == wanted else None

            return await eventually(reached, timeout_s=60, what=f"request {request_id} to be {wanted}")

        first = await submitted_and("engagement_opened")
        second = await submitted_and("queued")
        assert (first["tier"], first["provider_id"]) == ("critical_response", CRITICAL_RESPONSE_PROVIDER)
        assert second["tier"] == "critical_response"

        await close_engagement(one_place_system.infra, first)

        routed = await status_of(second["request_id"], "engagement_opened")
    assert routed["provider_id"] == CRITICAL_RESPONSE_PROVIDER
    statuses = [entry["status"] for entry in routed["timeline"]]
    assert statuses == ["submitted", "queued", "routed", "engagement_opened"]

    async with httpx.AsyncClient(base_url=one_place_system.services["routing"].url, headers=STAFF) as routing:
        history = (await routing.get(f"/v1/requests/{second['request_id']}/decisions")).json()["decisions"]
        registry = {p["provider_id"]: p for p in (await routing.get("/v1/providers")).json()}
    assert [(d["outcome"], d["decided_by"]) for d in history] == [("queued", "policy"), ("routed", "policy")]
    assert history[0]["rules_fired"][-1] == "queue.all_providers_full"
    assert registry[CRITICAL_RESPONSE_PROVIDER]["active"] == 1
    assert UUID(routed["engagement_id"]) != UUID(first["engagement_id"])
