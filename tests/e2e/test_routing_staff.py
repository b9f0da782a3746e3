"""Routing in the running system: decisions with their reasons, review, staff override over HTTP, what-if replay.

The session system's services are OS processes over the real broker and PostgreSQL."""

import asyncio
import json
import re
import sys
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from services.routing.settings import POLICY_FILE
from shared.contract import topics
from shared.contract.envelope import Envelope
from shared.contract.topics import TopicSpec
from shared.runtime.settings import ServiceSettings
from system.access import SETUP
from tests.support import SERVICE, STAFF, eventually, sample_request, topic_records

pytestmark = pytest.mark.e2e

THIN = {"assistance__topic_areas": []}
CONFLICTING = {
    "incident": {
        "summary": "Officer-involved shooting downtown.",
        "occurred_on": (date.today() - timedelta(days=10)).isoformat(),
        "high_profile": True,
        "assistance": ["after_action_review"],
    },
    "systemic_concerns": {
        "issues": ["community_trust"],
        "description": "Complaints about stops have grown for years.",
        "long_term_assistance_wanted": True,
        "commitment_to_implement": True,
    },
}


async def submit(system, **overrides) -> str:
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as client:
        accepted = await client.post("/v1/requests", json=sample_request(**overrides))
    assert accepted.status_code == 202
    return accepted.json()["request_id"]


async def intake_status(system, request_id: str, wanted: str) -> dict:
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as client:

        async def reached():
            status = (await client.get(f"/v1/requests/{request_id}")).json()
            return status if status["status"] == wanted else None

        return await eventually(reached, what=f"request {request_id} to be {wanted} in intake")


async def decisions(system, request_id: str, count: int = 1) -> list[dict]:
    async with httpx.AsyncClient(base_url=system["routing"].url, headers=STAFF) as client:

        async def decided():
            response = await client.get(f"/v1/requests/{request_id}/decisions")
            return response.json()["decisions"] if response.status_code == 200 else None

        history = await eventually(decided, what=f"a decision about {request_id}")
    assert len(history) == count
    return history


async def events_of(kafka: ServiceSettings, topic: TopicSpec, key: str) -> list[Envelope]:
    """Every event with `key` on `topic`, read from the beginning of its partitions."""
    records = await topic_records(kafka, topic.name)
    return [Envelope.model_validate_json(r.value) for r in records if r.key == key.encode()]


async def test_a_cri_tac_request_is_routed_to_a_cri_tac_provider_with_the_rules_that_fired(system) -> None:
    request_id = await submit(system)
    [decision] = await decisions(system, request_id)
    assert (decision["outcome"], decision["tier"], decision["decided_by"]) == ("routed", "cri_tac", "policy")
    assert decision["rules_fired"] == ["cri_tac.topic_areas"]
    assert decision["provider_id"] == decision["candidates"][0]["provider_id"]
    assert decision["policy_version"] == "2026.2"


@pytest.mark.parametrize("overrides", [THIN, CONFLICTING], ids=["thin", "conflicting"])
async def test_a_thin_or_conflicting_request_goes_to_staff_review_and_intake_shows_it_in_review(
    system, overrides
) -> None:
    request_id = await submit(system, **overrides)
    status = await intake_status(system, request_id, "in_review")
    [decision] = await decisions(system, request_id)
    assert decision["outcome"] == "needs_review"
    assert status["timeline"][-1]["detail"]["reasons"] == decision["review_reasons"]


async def test_staff_commands_and_reads_need_a_known_staff_key(system) -> None:
    request_id = await submit(system, **THIN)
    body = {"tier": "cri_tac", "provider_id": "iacp", "reason": "r"}
    async with httpx.AsyncClient(base_url=system["routing"].url) as client:
        answers = [
            await client.post(f"/v1/requests/{request_id}/assignment", json=body),
            await client.post(
                f"/v1/requests/{request_id}/assignment", json=body, headers={"Authorization": "Bearer guess"}
            ),
            await client.get(f"/v1/requests/{request_id}/decisions"),
            await client.get("/v1/providers"),
        ]
    assert [a.status_code for a in answers] == [401] * 4
    assert {a.headers["WWW-Authenticate"] for a in answers} == {"Bearer"}


async def test_staff_route_a_reviewed_request_the_history_keeps_both_decisions_and_routed_by_staff_is_published(
    system, infra
) -> None:
    request_id = await submit(system, **CONFLICTING)
    await decisions(system, request_id)
    body = {
        "tier": "critical_response",
        "provider_id": "national-policing-institute",
        "reason": "The incident is what the agency needs help with first.",
    }
    async with httpx.AsyncClient(base_url=system["routing"].url, headers=STAFF) as client:
        answer = await client.post(f"/v1/requests/{request_id}/assignment", json=body)
    assert answer.status_code == 200
    assert answer.json()["rules_fired"] == ["staff.override"]

    policy, staff = await decisions(system, request_id, count=2)
    assert (policy["decided_by"], policy["outcome"]) == ("policy", "needs_review")
    assert (staff["decided_by"], staff["outcome"], staff["provider_id"]) == (
        "staff",
        "routed",
        "national-policing-institute",
    )
    # Who decided is the staff key's subject (the embedded stack's dev staff key), never a name in the body.
    assert (staff["staff_member"], staff["reason"]) == ("dev-staff", body["reason"])
    status = await intake_status(system, request_id, "engagement_opened")
    assert status["provider_id"] == "national-policing-institute"
    events = await events_of(infra.kafka_settings(SETUP), topics.REQUESTS, request_id)
    routed = [e for e in events if e.type == "RequestRouted"]
    assert [(e.data["decided_by"], e.data["reason"]) for e in routed] == [("staff", body["reason"])]


@pytest.mark.parametrize(
    ("change", "status_code", "detail"),
    [
        ({"provider_id": "nobody"}, 422, "unknown provider 'nobody'"),
        ({"tier": "organizational_assessment"}, 422, "delivers cri_tac, not organizational_assessment"),
        ({"reason": "  "}, 422, None),
        ({"staff_member": "someone.else@cops.example.gov"}, 422, None),
    ],
)
async def test_an_assignment_the_registry_cannot_honour_is_refused(system, change, status_code, detail) -> None:
    request_id = await submit(system, **THIN)
    await decisions(system, request_id)
    body = {"tier": "cri_tac", "provider_id": "iacp", "reason": "by hand"} | change
    async with httpx.AsyncClient(base_url=system["routing"].url, headers=STAFF) as client:
        answer = await client.post(f"/v1/requests/{request_id}/assignment", json=body)
    assert answer.status_code == status_code
    if detail:
        assert detail in answer.json()["detail"]
    await decisions(system, request_id, count=1)


async def test_an_unknown_request_cannot_be_assigned_nor_read(system) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    body = {"tier": "cri_tac", "provider_id": "iacp", "reason": "by hand"}
    async with httpx.AsyncClient(base_url=system["routing"].url, headers=STAFF) as client:
        assigned = await client.post(f"/v1/requests/{unknown}/assignment", json=body)
        read = await client.get(f"/v1/requests/{unknown}/decisions")
    assert (assigned.status_code, read.status_code) == (404, 404)


async def test_a_request_whose_engagement_opened_is_not_reassigned(system, db) -> None:
    request_id = await submit(system)
    status = await intake_status(system, request_id, "engagement_opened")

    async def place_held():  # routing learns of the engagement from EngagementOpened
        return await db.fetchval(
            "SELECT count(*) FROM routing.engagement_places WHERE request_id = $1::uuid", request_id
        )

    await eventually(place_held, what="routing to hold the engagement's place")
    other = "noble" if status["provider_id"] != "noble" else "ntoa"
    body = {"tier": "cri_tac", "provider_id": other, "reason": "by hand"}
    async with httpx.AsyncClient(base_url=system["routing"].url, headers=STAFF) as client:
        answer = await client.post(f"/v1/requests/{request_id}/assignment", json=body)
    assert answer.status_code == 409
    assert "already has an engagement" in answer.json()["detail"]
    await decisions(system, request_id, count=1)


async def test_the_registry_lists_every_provider_with_its_load_and_capacity(system) -> None:
    await decisions(system, await submit(system))
    async with httpx.AsyncClient(base_url=system["routing"].url, headers=STAFF) as client:
        registry = (await client.get("/v1/providers")).json()
    by_id = {p["provider_id"]: p for p in registry}
    assert {"iacp", "national-policing-institute", "oa-provider"} <= set(by_id)
    assert sum(p["active"] for p in registry if p["tier"] == "cri_tac") >= 1
    assert all(p["capacity"] == 100_000 and p["partner_today"] for p in registry)


async def replay_command(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.routing.replay",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


def candidate_policy(tmp_path: Path, **cri_tac: object) -> Path:
    policy = yaml.safe_load(POLICY_FILE.read_text())
    policy["version"] = "2026.2-candidate"
    policy["rules"]["cri_tac"] |= cri_tac
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


async def test_replay_reports_the_past_decisions_a_candidate_policy_would_change_and_writes_nothing(
    system, infra, db, tmp_path
) -> None:
    one_topic = await submit(system)
    two_topics = await submit(system, assistance__topic_areas=["de_escalation", "use_of_force"])
    for request_id in (one_topic, two_topics):
        await decisions(system, request_id)
    written = "SELECT (SELECT count(*) FROM routing.decisions) + (SELECT count(*) FROM routing.outbox)"
    before = await db.fetchval(written)

    code, out, err = await replay_command(
        "--policy", str(candidate_policy(tmp_path, min_topics=2)), "--database-url", infra.database_url, "--json"
    )

    assert code == 0, err
    report = json.loads(out)
    changed = {c["request_id"]: c for c in report["changes"]}
    assert report["policy_version"] == "2026.2-candidate"
    assert changed[one_topic]["before"]["outcome"] == "routed"
    assert changed[one_topic]["after"] == {"outcome": "needs_review", "tier": None, "provider_id": None}
    assert changed[one_topic]["cause"] == "policy"
    # Loads have moved on since it was decided: it may go elsewhere, but not because of the candidate.
    assert changed.get(two_topics, {"cause": "loads"})["cause"] == "loads"
    assert report["changed"] == len(report["changes"]) <= report["replayed"]
    assert await db.fetchval(written) == before


async def test_replay_prints_a_readable_report(system, infra, tmp_path) -> None:
    request_id = await submit(system)
    await decisions(system, request_id)
    code, out, _ = await replay_command(
        "--policy", str(candidate_policy(tmp_path, min_topics=2)), "--database-url", infra.database_url
    )
    assert code == 0
    assert out.startswith("Replayed ")
    line = next(line for line in out.splitlines() if request_id in line)
    assert line.strip().startswith(f"{request_id}  routed cri_tac/")
    assert line.endswith("->  needs_review  (policy)")


async def test_replay_refuses_an_invalid_candidate_policy_with_the_exact_problem(infra, tmp_path) -> None:
    policy = yaml.safe_load(POLICY_FILE.read_text())
    policy["rules"]["precedence"] = ["cri_tac"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(policy))
    code, out, err = await replay_command("--policy", str(path), "--database-url", infra.database_url)
    assert code == 2
    assert out == ""
    assert re.search(r"broken\.yaml:\d+: rules\.precedence: must name every tier exactly once", err)
