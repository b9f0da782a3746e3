"""Intake's reading of an assessment's recommendations from the engagements service, against a fake engagements
service (an httpx transport): what the agency reads, with the service key; an engagement that cannot be read now
is None, so the page says so instead of failing."""

from uuid import uuid4

import httpx

from services.intake.engagements import Engagements

READABLE, FAILING = uuid4(), uuid4()


def engagements_service(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == "Bearer intake-service-key"
    if request.url.path == f"/v1/engagements/{READABLE}/recommendations":
        return httpx.Response(
            200,
            json=[
                {
                    "recommendation_id": str(uuid4()),
                    "text": "Publish the use-of-force policy.",
                    "status": "accepted",
                    "created_at": "2026-11-30T10:00:00Z",
                    "history": [],
                }
            ],
        )
    return httpx.Response(503)


async def test_each_assessments_recommendations_or_none_when_they_cannot_be_read():
    client = httpx.AsyncClient(base_url="http://engagements", transport=httpx.MockTransport(engagements_service))
    found = await Engagements(client, "intake-service-key").recommendations([READABLE, FAILING])
    [recommendation] = found[READABLE]
    assert (recommendation.text, recommendation.status) == ("Publish the use-of-force policy.", "accepted")
    assert found[FAILING] is None
    assert await Engagements(client, "intake-service-key").recommendations([]) == {}
