"""Intake's HTTP API over the real broker and PostgreSQL: a request is accepted once however often it is sent,
its status follows downstream events, and every bad body gets a specific 4xx answer, never a 500."""

import asyncio
import json
import uuid

import httpx
import pytest

from services.intake.settings import IntakeSettings
from tests.support import SERVICE, STAFF, eventually, sample_request, unique

pytestmark = pytest.mark.e2e

LIMIT = IntakeSettings().max_body_bytes


@pytest.fixture
async def client(system):
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE, timeout=30) as client:
        yield client


async def _submitted_events(db, request_id: str) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM intake.outbox WHERE key = $1 AND headers->>'event-type' = 'RequestReceived'",
        request_id,
    )


async def _rows(db, request_id: str) -> int:
    return await db.fetchval("SELECT count(*) FROM intake.requests WHERE request_id = $1::uuid", request_id)


async def test_a_posted_request_is_accepted_with_202_and_a_status_url_that_answers(client):
    response = await client.post("/v1/requests", json=sample_request())

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["replayed"] is False
    assert accepted["status_url"] == f"/v1/requests/{accepted['request_id']}"
    assert response.headers["Location"] == accepted["status_url"]
    status = await client.get(accepted["status_url"])
    assert status.status_code == 200
    assert status.json()["request_id"] == accepted["request_id"]
    assert status.json()["channel"] == "http"


async def test_a_replay_with_the_same_idempotency_key_returns_the_same_request_recorded_once(client, db):
    body, key = sample_request(), unique("key")

    first = await client.post("/v1/requests", json=body, headers={"Idempotency-Key": key})
    second = await client.post("/v1/requests", json=body, headers={"Idempotency-Key": key})

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["request_id"] == first.json()["request_id"]
    assert second.json()["replayed"] is True
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await _rows(db, first.json()["request_id"]) == 1
    assert await _submitted_events(db, first.json()["request_id"]) == 1


async def test_an_idempotency_key_reused_with_a_different_body_is_a_409_conflict(client, db):
    key = unique("key")
    first = await client.post("/v1/requests", json=sample_request(), headers={"Idempotency-Key": key})

    conflict = await client.post("/v1/requests", json=sample_request(), headers={"Idempotency-Key": key})

    assert conflict.status_code == 409
    assert "different request body" in conflict.json()["detail"]
    assert await _rows(db, first.json()["request_id"]) == 1


async def test_the_same_agency_and_client_reference_without_a_key_is_recognised_as_one_request(client, db):
    body = sample_request(client_reference=unique("CASE"))

    first = await client.post("/v1/requests", json=body)
    again = await client.post("/v1/requests", json=body)

    assert again.status_code == 202
    assert again.json() == {**first.json(), "replayed": True}
    assert await _submitted_events(db, first.json()["request_id"]) == 1


async def test_concurrent_submissions_of_one_client_reference_make_one_request(client, db):
    body = sample_request(client_reference=unique("CASE"))

    responses = await asyncio.gather(*(client.post("/v1/requests", json=body) for _ in range(8)))

    assert {r.status_code for r in responses} == {202}
    [request_id] = {r.json()["request_id"] for r in responses}
    assert await _rows(db, request_id) == 1
    assert await _submitted_events(db, request_id) == 1


async def test_concurrent_submissions_under_one_idempotency_key_make_one_request_and_refuse_the_other_body(client, db):
    body, other, key = sample_request(), sample_request(), {"Idempotency-Key": unique("key")}

    *same, different = await asyncio.gather(
        *(client.post("/v1/requests", json=body, headers=key) for _ in range(8)),
        client.post("/v1/requests", json=other, headers=key),
    )

    # Whichever body arrived first owns the key; every copy of it gets that request, the other body a 409.
    first_wins = different.status_code == 409
    assert {r.status_code for r in same} == ({202} if first_wins else {409})
    winners = same if first_wins else [different]
    [request_id] = {r.json()["request_id"] for r in winners}
    assert await _rows(db, request_id) == 1
    assert await _submitted_events(db, request_id) == 1


async def test_the_status_moves_from_submitted_to_routed_to_engagement_opened_with_a_timeline(client):
    request_id = (await client.post("/v1/requests", json=sample_request())).json()["request_id"]

    async def opened():
        status = (await client.get(f"/v1/requests/{request_id}")).json()
        return status if status["status"] == "engagement_opened" else None

    status = await eventually(opened, what="the request's engagement to open")
    submitted, routed, engagement = status["timeline"]
    assert [submitted["status"], routed["status"], engagement["status"]] == ["submitted", "routed", "engagement_opened"]
    assert submitted["at"] <= routed["at"] <= engagement["at"]
    assert submitted["detail"] == {"channel": "http"}
    assert routed["detail"]["tier"] == status["tier"] == "cri_tac"
    assert routed["detail"]["provider"] == status["provider_name"]
    assert engagement["detail"]["engagement_id"] == status["engagement_id"]


async def test_an_unknown_request_id_is_a_404(client):
    response = await client.get("/v1/requests/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404


async def test_a_body_declared_larger_than_the_limit_is_refused_with_413(client):
    padded = json.dumps(sample_request()).encode() + b" " * LIMIT

    response = await client.post("/v1/requests", content=padded, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json() == {"detail": f"request body is larger than {LIMIT} bytes"}


async def test_a_streamed_body_without_a_length_is_cut_off_past_the_limit_with_413(client):
    async def chunks():
        yield json.dumps(sample_request()).encode()
        for _ in range(LIMIT // 4096 + 1):
            yield b" " * 4096

    response = await client.post("/v1/requests", content=chunks(), headers={"Content-Type": "application/json"})

    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_a_body_exactly_at_the_limit_is_read(client):
    body = json.dumps(sample_request()).encode()
    padded = body + b" " * (LIMIT - len(body))

    response = await client.post("/v1/requests", content=padded, headers={"Content-Type": "application/json"})

    assert response.status_code == 202


async def test_a_json_body_sent_as_another_content_type_is_refused_with_415(client):
    body = json.dumps(sample_request())

    response = await client.post("/v1/requests", content=body, headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert response.json() == {"detail": "Content-Type must be application/json"}


@pytest.mark.parametrize(
    ("body", "loc", "error_type", "message"),
    [
        (
            json.dumps(sample_request(agency__nickname="Springfield PD")),
            ["body", "agency", "nickname"],
            "extra_forbidden",
            "Extra inputs are not permitted",
        ),
        (
            json.dumps(sample_request(agency__ori="WI0840000")),
            ["body", "agency"],
            "value_error",
            "ORI WI0840000 does not start with the agency's state code IL",
        ),
        ('{"agency": {"name": ', ["body", 20], "json_invalid", "JSON decode error"),
        (
            json.dumps(sample_request(agency__sworn_officers=float("nan"))),
            ["body", "agency", "sworn_officers"],
            "finite_number",
            "finite number",
        ),
        (
            json.dumps(sample_request(assistance__description="training\u0000please")),
            ["body", "assistance", "description"],
            "string_unstorable",
            "NUL character",
        ),
        (
            json.dumps(sample_request(contact__title="x" * 201)),
            ["body", "contact", "title"],
            "string_too_long",
            "at most 200 characters",
        ),
    ],
    ids=["unknown field", "ORI of another state", "malformed JSON", "NaN number", "NUL character", "overlong text"],
)
async def test_a_bad_body_is_refused_with_422_naming_the_field_and_the_reason(client, body, loc, error_type, message):
    response = await client.post("/v1/requests", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    errors = response.json()["detail"]
    matching = [e for e in errors if e["loc"] == loc and e["type"] == error_type]
    assert matching, errors
    assert message in matching[0]["msg"]


async def test_staff_read_a_requests_contact_person_which_no_topic_but_the_restricted_one_carries(client):
    body = sample_request()
    accepted = await client.post("/v1/requests", json=body)
    request_id = accepted.json()["request_id"]
    contact = await client.get(f"/v1/requests/{request_id}/contact", headers=STAFF)
    assert (contact.status_code, contact.json()) == (200, body["contact"])
    unknown = await client.get(f"/v1/requests/{uuid.uuid4()}/contact", headers=STAFF)
    assert unknown.status_code == 404
