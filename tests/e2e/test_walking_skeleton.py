"""A request posted to intake flows intake -> routing -> engagements -> notify, each service its own process."""

import mailbox

import httpx
import pytest

from tests.support import SERVICE, eventually, sample_request

pytestmark = [pytest.mark.e2e, pytest.mark.tansu]


async def test_a_posted_request_is_routed_opened_and_its_status_follows(system, db):
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as client:
        accepted = await client.post("/v1/requests", json=sample_request())
        assert accepted.status_code == 202
        request_id = accepted.json()["request_id"]

        async def opened():
            status = (await client.get(f"/v1/requests/{request_id}")).json()
            return status if status["status"] == "engagement_opened" else None

        status = await eventually(opened, what="the request's engagement to open")
    assert status["tier"] == "cri_tac"
    assert status["provider_id"]
    assert [entry["status"] for entry in status["timeline"]] == ["submitted", "routed", "engagement_opened"]
    engagements = await db.fetchval(
        "SELECT count(*) FROM engagements.engagements WHERE request_id = $1::uuid", request_id
    )
    assert engagements == 1


async def test_notify_emails_the_agency_and_the_provider_through_the_smtp_server(system, db, infra):
    body = sample_request()
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as client:
        request_id = (await client.post("/v1/requests", json=body)).json()["request_id"]

    async def delivered():
        rows = await db.fetch(
            "SELECT kind, status FROM notify.deliveries WHERE request_id = $1::uuid AND status = 'sent'", request_id
        )
        kinds = {row["kind"] for row in rows}
        wanted = {"request_received", "request_routed_agency", "assignment_provider", "engagement_opened_agency"}
        return kinds if wanted <= kinds else None

    await eventually(delivered, what="the four notifications to be sent")
    mails = [m for m in mailbox.Maildir(infra.maildir) if body["agency"]["name"] in _text_of(m)]
    recipients = sorted(m["To"] for m in mails)
    assert recipients.count(body["contact"]["email"]) == 3
    assert len(recipients) == 4
    assert len({m["Message-ID"] for m in mails}) == 4


def _text_of(message: mailbox.MaildirMessage) -> str:
    return "".join(
        part.get_payload(decode=True).decode() for part in message.walk() if part.get_content_type() == "text/plain"
    )
