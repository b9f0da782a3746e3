"""The engagements HTTP API over the running system: an engagement opened by a routed request is listed, read
with its timeline, moved milestone by milestone, refused when the lifecycle or a stale version says no, and
closed with an outcome; an assessment's recommendations keep their status history."""

import httpx
import pytest

from tests.support import SERVICE, STAFF, eventually, sample_request

pytestmark = pytest.mark.e2e


async def open_engagement(system, db, **overrides) -> dict:
    """Submit a request through intake (CRI-TAC unless `overrides` say otherwise) and return its engagement as
    the API shows it."""
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as intake:
        request_id = (await intake.post("/v1/requests", json=sample_request(**overrides))).json()["request_id"]

    async def engagement_id():
        return await db.fetchval("SELECT engagement_id FROM engagements.engagements WHERE request_id = $1", request_id)

    found = await eventually(engagement_id, what="the request's engagement to open")
    async with httpx.AsyncClient(base_url=system["engagements"].url, headers=STAFF) as api:
        return (await api.get(f"/v1/engagements/{found}")).json()


@pytest.fixture
async def api(system):
    async with httpx.AsyncClient(base_url=system["engagements"].url, headers=STAFF) as client:
        yield client


def milestone(name: str, version: int, **extra) -> dict:
    return {"milestone": name, "expected_version": version, **extra}


ACTOR = "staff:dev-staff"  # the principal of the embedded stack's staff key (tests.support.STAFF)


async def test_a_routed_request_opens_one_engagement_with_its_timeline_and_first_deadline(system, db, api):
    engagement = await open_engagement(system, db)
    assert engagement["tier"] == "cri_tac"
    assert (engagement["status"], engagement["version"]) == ("accepted", 1)
    assert engagement["allowed_next"] == ["scoping"]
    assert [entry["action"] for entry in engagement["audit_trail"]] == ["opened"]
    assert engagement["next_deadline"]["milestone"] == "scoping"
    count = await db.fetchval(
        "SELECT count(*) FROM engagements.engagements WHERE request_id = $1", engagement["request_id"]
    )
    assert count == 1


async def test_engagements_are_listed_filtered_by_tier_status_provider_and_overdue(system, db, api):
    engagement = await open_engagement(system, db)
    provider = engagement["provider"]["provider_id"]
    query = {"tier": "cri_tac", "status": "accepted", "provider_id": provider, "overdue": "false", "limit": 500}
    listed = (await api.get("/v1/engagements", params=query)).json()
    assert engagement["engagement_id"] in [item["engagement_id"] for item in listed["items"]]
    assert {(i["tier"], i["status"], i["provider"]["provider_id"], i["overdue"]) for i in listed["items"]} == {
        ("cri_tac", "accepted", provider, False)
    }
    other_status = (await api.get("/v1/engagements", params={**query, "status": "delivery"})).json()
    assert engagement["engagement_id"] not in [item["engagement_id"] for item in other_status["items"]]


async def test_engagements_are_paged(system, db, api):
    await open_engagement(system, db)
    await open_engagement(system, db)
    first = (await api.get("/v1/engagements", params={"limit": 1})).json()
    second = (await api.get("/v1/engagements", params={"limit": 1, "offset": 1})).json()
    assert first["total"] >= 2 and len(first["items"]) == len(second["items"]) == 1
    assert first["items"][0]["engagement_id"] != second["items"][0]["engagement_id"]


async def test_recording_the_next_milestone_moves_the_status_counts_first_contact_and_is_audited(system, db, api):
    engagement = await open_engagement(system, db)
    url = f"/v1/engagements/{engagement['engagement_id']}"
    moved = await api.post(f"{url}/milestones", json=milestone("scoping", 1, note="call with the chief"))
    assert moved.status_code == 200
    assert (moved.json()["status"], moved.json()["version"]) == ("scoping", 2)
    assert moved.json()["first_contact_at"] is not None
    timeline = (await api.get(url)).json()
    # Who recorded it is the key's principal: a body has no field to name anyone.
    assert [(m["milestone"], m["recorded_by"]) for m in timeline["milestones"]] == [("scoping", ACTOR)]
    assert [(a["action"], a["actor"], a["reason"]) for a in timeline["audit_trail"]][-1] == (
        "milestone",
        ACTOR,
        "call with the chief",
    )
    assert timeline["next_deadline"]["milestone"] == "delivery"


async def test_a_skipped_milestone_is_refused_with_409_the_reason_and_the_allowed_milestones(system, db, api):
    engagement = await open_engagement(system, db)
    refused = await api.post(f"/v1/engagements/{engagement['engagement_id']}/milestones", json=milestone("delivery", 1))
    assert refused.status_code == 409
    assert refused.json()["detail"] == {"reason": "delivery would skip scoping", "allowed": ["scoping"]}


async def test_a_stale_expected_version_is_refused_with_409_and_changes_nothing(system, db, api):
    engagement = await open_engagement(system, db)
    url = f"/v1/engagements/{engagement['engagement_id']}"
    assert (await api.post(f"{url}/milestones", json=milestone("scoping", 1))).status_code == 200
    stale = await api.post(f"{url}/closure", json={"outcome": "withdrawn", "note": "n", "expected_version": 1})
    assert stale.status_code == 409
    assert "version 1" in stale.json()["detail"]["reason"]
    assert (await api.get(url)).json()["status"] == "scoping"


async def test_an_unknown_engagement_is_404(api):
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await api.get(f"/v1/engagements/{unknown}")).status_code == 404
    assert (await api.post(f"/v1/engagements/{unknown}/milestones", json=milestone("scoping", 1))).status_code == 404


@pytest.mark.parametrize(
    "path, body",
    [
        ("milestones", {"milestone": "scoping"}),
        ("milestones", {"milestone": "scoping", "expected_version": 0}),
        ("closure", {"outcome": "escalated", "note": "n", "expected_version": 1}),
        ("escalation", {"to_tier": "nowhere", "reason": "r", "expected_version": 1}),
        # A body that names who acted is refused: changes are recorded in the caller's name only.
        ("milestones", {"milestone": "scoping", "recorded_by": "iacp:a.rivera", "expected_version": 1}),
        ("closure", {"outcome": "withdrawn", "note": "n", "closed_by": "staff:k.ng", "expected_version": 1}),
        ("escalation", {"to_tier": "critical_response", "reason": "r", "escalated_by": "x", "expected_version": 1}),
    ],
)
async def test_a_malformed_body_is_422(system, db, api, path, body):
    engagement = await open_engagement(system, db)
    assert (await api.post(f"/v1/engagements/{engagement['engagement_id']}/{path}", json=body)).status_code == 422


async def test_closing_with_an_outcome_ends_the_engagement_and_frees_its_deadline(system, db, api):
    engagement = await open_engagement(system, db)
    url = f"/v1/engagements/{engagement['engagement_id']}"
    body = {"outcome": "withdrawn", "note": "the agency withdrew", "expected_version": 1}
    closed = (await api.post(f"{url}/closure", json=body)).json()
    assert (closed["status"], closed["outcome"], closed["allowed_next"]) == ("closed", "withdrawn", [])
    timeline = (await api.get(url)).json()
    assert timeline["next_deadline"] is None
    assert (timeline["audit_trail"][-1]["action"], timeline["audit_trail"][-1]["actor"]) == ("closed", ACTOR)


async def test_completing_before_the_last_milestone_is_refused_with_the_allowed_outcomes(system, db, api):
    engagement = await open_engagement(system, db)
    body = {"outcome": "completed", "note": "n", "expected_version": 1}
    refused = await api.post(f"/v1/engagements/{engagement['engagement_id']}/closure", json=body)
    assert refused.status_code == 409
    assert refused.json()["detail"]["allowed"] == ["withdrawn", "escalated", "declined"]


SYSTEMIC = {
    "issues": ["community_trust"],
    "description": "Community trust has eroded after several contested use-of-force incidents.",
    "long_term_assistance_wanted": True,
    "commitment_to_implement": True,
}


@pytest.fixture
async def assessment(system, db, api):
    """An organizational assessment moved to findings_and_recommendations."""
    engagement = await open_engagement(system, db, systemic_concerns=SYSTEMIC)
    assert engagement["tier"] == "organizational_assessment"
    url = f"/v1/engagements/{engagement['engagement_id']}"
    for version, step in enumerate(["assessment", "findings_and_recommendations"], start=1):
        assert (await api.post(f"{url}/milestones", json=milestone(step, version))).status_code == 200
    return url


async def test_an_assessment_opens_at_kickoff_which_counts_as_first_contact(system, db):
    engagement = await open_engagement(system, db, systemic_concerns=SYSTEMIC)
    assert (engagement["status"], engagement["first_contact_at"]) == ("kickoff", engagement["opened_at"])


async def test_recommendations_are_refused_before_findings(system, db, api):
    engagement = await open_engagement(system, db, systemic_concerns=SYSTEMIC)
    body = {"text": "Publish use-of-force data"}
    refused = await api.post(f"/v1/engagements/{engagement['engagement_id']}/recommendations", json=body)
    assert refused.status_code == 409
    assert refused.json()["detail"]["allowed"] == ["assessment"]


async def test_a_recommendation_moves_forward_keeping_its_status_history_and_audit(api, assessment):
    body = {"text": "Publish use-of-force data quarterly"}
    added = await api.post(f"{assessment}/recommendations", json=body)
    assert added.status_code == 201 and added.json()["status"] == "proposed"
    rid = added.json()["recommendation_id"]
    for status in ("accepted", "implemented"):
        moved = await api.patch(f"{assessment}/recommendations/{rid}", json={"status": status})
        assert moved.status_code == 200
    listed = (await api.get(f"{assessment}/recommendations")).json()
    assert [(step["status"], step["changed_by"]) for step in listed[0]["history"]] == [
        ("proposed", ACTOR),
        ("accepted", ACTOR),
        ("implemented", ACTOR),
    ]
    trail = [entry["action"] for entry in (await api.get(assessment)).json()["audit_trail"]]
    assert trail[-3:] == ["recommendation_added", "recommendation_changed", "recommendation_changed"]


async def test_a_final_recommendation_status_is_kept_with_409(api, assessment):
    body = {"text": "Create an early intervention system"}
    rid = (await api.post(f"{assessment}/recommendations", json=body)).json()["recommendation_id"]
    withdrawn = {"status": "withdrawn", "note": "superseded"}
    assert (await api.patch(f"{assessment}/recommendations/{rid}", json=withdrawn)).status_code == 200
    refused = await api.patch(f"{assessment}/recommendations/{rid}", json={"status": "accepted"})
    assert refused.status_code == 409 and refused.json()["detail"]["allowed"] == []


async def test_an_unknown_recommendation_is_404_and_an_unknown_status_422(api, assessment):
    unknown = "00000000-0000-4000-8000-000000000000"
    change = {"status": "accepted"}
    assert (await api.patch(f"{assessment}/recommendations/{unknown}", json=change)).status_code == 404
    body = {"text": "Revise the stops policy"}
    rid = (await api.post(f"{assessment}/recommendations", json=body)).json()["recommendation_id"]
    bad = await api.patch(f"{assessment}/recommendations/{rid}", json={"status": "done"})
    assert bad.status_code == 422
