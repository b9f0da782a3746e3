"""What engagements publishes: escalation on cri.engagements, a compacted state topic from which an outside
dashboard rebuilds the portfolio (without contact data), and deadlines that fire exactly once, across a
restart and with two replicas."""

import asyncio
import json
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.contract import topics
from shared.contract.topics import TopicSpec
from shared.runtime.settings import ServiceSettings
from system.access import DASHBOARD, SETUP
from system.stack.ports import free_port
from system.stack.runner import ServiceProcess
from tests.support import SERVICE, STAFF, eventually, sample_request, topic_records

pytestmark = pytest.mark.e2e


async def read_topic(kafka: ServiceSettings, topic: TopicSpec) -> list[tuple[str, dict]]:
    """Every (key, envelope) of `topic`, as a dashboard starting from nothing would read it."""
    return [(r.key.decode(), json.loads(r.value)) for r in await topic_records(kafka, topic.name)]


async def events_of(kafka: ServiceSettings, engagement_id: str, event_type: str) -> list[dict]:
    return [
        envelope
        for key, envelope in await read_topic(kafka, topics.ENGAGEMENTS)
        if key == engagement_id and envelope["type"] == event_type
    ]


async def open_engagements(intake_url: str, db, count: int = 1) -> list[str]:
    async with httpx.AsyncClient(base_url=intake_url, headers=SERVICE) as intake:
        request_ids = [
            (await intake.post("/v1/requests", json=sample_request())).json()["request_id"] for _ in range(count)
        ]

    async def opened():
        rows = await db.fetch(
            "SELECT engagement_id FROM engagements.engagements WHERE request_id = ANY($1::uuid[])", request_ids
        )
        return [str(r["engagement_id"]) for r in rows] if len(rows) == count else None

    return await eventually(opened, timeout_s=60, what=f"{count} engagement(s) to open")


async def outbox_drained(db) -> bool:
    return await db.fetchval("SELECT count(*) = 0 FROM engagements.outbox WHERE published_at IS NULL")


async def test_escalation_closes_the_engagement_as_escalated_and_publishes_engagement_escalated(system, db, infra):
    (engagement_id,) = await open_engagements(system["intake"].url, db)
    body = {
        "to_tier": "organizational_assessment",
        "reason": "the training surfaced systemic issues",
        "expected_version": 1,
    }
    async with httpx.AsyncClient(base_url=system["engagements"].url, headers=STAFF) as api:
        escalated = await api.post(f"/v1/engagements/{engagement_id}/escalation", json=body)
    assert escalated.status_code == 200
    assert (escalated.json()["status"], escalated.json()["outcome"]) == ("closed", "escalated")

    async def published():
        return await events_of(infra.kafka_settings(SETUP), engagement_id, "EngagementEscalated")

    (event,) = await eventually(published, what="EngagementEscalated on cri.engagements")
    assert (event["data"]["from_tier"], event["data"]["to_tier"]) == ("cri_tac", "organizational_assessment")
    # Who escalated is the staff key's principal, never a name from the body.
    assert (event["data"]["reason"], event["data"]["escalated_by"]) == (body["reason"], "staff:dev-staff")


async def test_an_escalated_request_is_routed_to_the_new_tier_and_opens_a_linked_engagement(system, db):
    (engagement_id,) = await open_engagements(system["intake"].url, db)
    body = {
        "to_tier": "critical_response",
        "reason": "a critical incident occurred during the engagement",
        "expected_version": 1,
    }
    async with httpx.AsyncClient(base_url=system["engagements"].url, headers=STAFF) as api:
        assert (await api.post(f"/v1/engagements/{engagement_id}/escalation", json=body)).status_code == 200

    async def linked():
        return await db.fetchrow(
            "SELECT tier, provider->>'provider_id' AS provider_id, status FROM engagements.engagements"
            " WHERE escalated_from = $1::uuid",
            engagement_id,
        )

    successor = await eventually(linked, what="the escalated request's new engagement")
    assert successor["tier"] == "critical_response"
    assert successor["provider_id"] == "national-policing-institute"
    decisions = await db.fetch(
        "SELECT decided_by, tier, reason FROM routing.decisions WHERE request_id ="
        " (SELECT request_id FROM engagements.engagements WHERE engagement_id = $1::uuid) ORDER BY id",
        engagement_id,
    )
    assert [(d["decided_by"], d["tier"]) for d in decisions] == [("policy", "cri_tac"), ("staff", "critical_response")]
    assert decisions[-1]["reason"] == body["reason"]


async def test_the_state_topic_rebuilds_the_portfolio_of_the_database_without_contact_data(system, db, infra):
    (engagement_id,) = await open_engagements(system["intake"].url, db)
    async with httpx.AsyncClient(base_url=system["engagements"].url, headers=STAFF) as api:
        step = {"milestone": "scoping", "expected_version": 1}
        assert (await api.post(f"/v1/engagements/{engagement_id}/milestones", json=step)).status_code == 200
    await eventually(lambda: outbox_drained(db), what="the engagements outbox to be published")

    records = await read_topic(infra.kafka_settings(DASHBOARD), topics.ENGAGEMENT_STATE)
    portfolio = {key: envelope["data"] for key, envelope in records}  # the latest snapshot of each key wins
    rows = await db.fetch("SELECT engagement_id, status, version, overdue FROM engagements.engagements")
    assert {str(r["engagement_id"]): (r["status"], r["version"], r["overdue"]) for r in rows} == {
        key: (data["status"], data["version"], data["overdue"]) for key, data in portfolio.items()
    }
    assert portfolio[engagement_id]["milestones"] == ["scoping"]
    for _, envelope in records:
        assert "contact" not in envelope["data"]["agency"] and "@" not in json.dumps(envelope["data"])


@pytest.fixture(scope="module")
def fast_deadlines(private_system):
    """A system whose deadline "day" lasts a second, so a CRI-TAC scoping deadline falls due in 14 s."""
    return private_system(
        ("intake", "routing", "engagements"),
        env={"CRI_DEADLINE_DAY_SECONDS": "1", "CRI_DEADLINE_SCAN_INTERVAL_S": "0.1"},
    )


@pytest.fixture
async def fast_db(fast_deadlines):
    pool = await asyncpg.create_pool(fast_deadlines.infra.database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def test_a_deadline_due_while_engagements_was_stopped_fires_once_after_its_restart(fast_deadlines, fast_db):
    (engagement_id,) = await open_engagements(fast_deadlines.services["intake"].url, fast_db)
    engagements = fast_deadlines.services["engagements"]
    await asyncio.to_thread(engagements.stop)
    assert await fast_db.fetchval(
        "SELECT fired_at IS NULL FROM engagements.deadlines WHERE engagement_id = $1", engagement_id
    ), "the deadline fell due before engagements stopped: the test's day is too short for this machine"

    async def due():
        return await fast_db.fetchval(
            "SELECT due_at < now() FROM engagements.deadlines WHERE engagement_id = $1", engagement_id
        )

    await eventually(due, what="the scoping deadline to fall due")
    engagements.start()
    await asyncio.to_thread(engagements.wait_ready)
    infra = fast_deadlines.infra

    async def missed():
        return await events_of(infra.kafka_settings(SETUP), engagement_id, "DeadlineMissed")

    await eventually(missed, what="DeadlineMissed after the restart")
    await eventually(lambda: outbox_drained(fast_db), what="the engagements outbox to be published")
    (event,) = await missed()
    assert event["data"]["milestone"] == "scoping"
    snapshots = [
        e for k, e in await read_topic(infra.kafka_settings(DASHBOARD), topics.ENGAGEMENT_STATE) if k == engagement_id
    ]
    assert snapshots[-1]["data"]["overdue"] is True


async def test_two_engagements_replicas_fire_each_deadline_once(fast_deadlines, fast_db):
    first = fast_deadlines.services["engagements"]
    port = free_port()
    second = ServiceProcess(
        "engagements", port, {**first.env, "CRI_HTTP_PORT": str(port)}, Path(first.log_path).with_name("second.log")
    ).start()
    try:
        await asyncio.to_thread(second.wait_ready)
        engagement_ids = await open_engagements(fast_deadlines.services["intake"].url, fast_db, count=6)

        async def all_fired():
            return await fast_db.fetchval(
                "SELECT count(*) = $2 FROM engagements.deadlines WHERE engagement_id = ANY($1::uuid[])"
                " AND fired_at IS NOT NULL",
                engagement_ids,
                len(engagement_ids),
            )

        await eventually(all_fired, timeout_s=60, what="every scoping deadline to fire")
        await eventually(lambda: outbox_drained(fast_db), what="the engagements outbox to be published")
    finally:
        await asyncio.to_thread(second.stop)
    published = await read_topic(fast_deadlines.infra.kafka_settings(SETUP), topics.ENGAGEMENTS)
    missed = [key for key, envelope in published if envelope["type"] == "DeadlineMissed" and key in engagement_ids]
    assert sorted(missed) == sorted(engagement_ids)
