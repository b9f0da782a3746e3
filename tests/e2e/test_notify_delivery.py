"""Notify as its own process, delivering to a REAL SMTP server and a REAL webhook receiver started by this module:
what was actually received (recipients, content, confidentiality, signatures), outages of either receiver, a
provider without a mailbox, and a SIGKILL of notify in the middle of a stream."""

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from services.notify.channels import DELIVERY_HEADER, SIGNATURE_HEADER
from services.notify.domain.signatures import verify
from services.routing.settings import RoutingSettings
from shared.contract import topics
from system.stack.ports import free_port
from tests.support import SERVICE, STAFF, eventually, sample_request

pytestmark = pytest.mark.e2e

INCIDENT = "Officer-involved shooting on Elm Street; the family has not yet been told."
# A confidential incident in words that point to no other tier (routing's lexicon, policy 2026.2): a request asking
# only for training about it stays with CRI-TAC. ("Officer-involved shooting" in a request asking no Critical Response
# help goes to staff.)
TRAINING_INCIDENT = "A patrol car crashed on Elm Street in a pursuit; the family of the driver has not yet been told."
# Per CRI-TAC request: acknowledgement, routing and opening to the agency, the assignment to the provider by email
# and by the webhook the preferences file gives every CRI-TAC provider.
CRI_TAC_DELIVERIES = 5


class SmtpSink:
    """aiosmtpd handler keeping every message; `refuse_with` answers DATA with a temporary failure instead."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse_with: str | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse_with:
            return self.refuse_with
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class WebhookReceiver:
    """An HTTP server standing for every webhook receiver (one path each: /staff, /<provider id>), which checks
    each signature like a real receiver would, with that receiver's own secret, and answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict] = []  # every request, whatever was answered
        self.status = 200
        self.secrets: dict[str, str] = {}  # path -> the secret of the receiver at that path
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers[SIGNATURE_HEADER]
                receiver.received.append(
                    {
                        "delivery_id": self.headers[DELIVERY_HEADER],
                        "path": self.path,
                        # With its own secret; and which receivers' secrets it verifies with (only its own).
                        "verified": verify(body, header, receiver.secrets.get(self.path, ""), 300, time.time()),
                        "verifies_with": sorted(
                            path
                            for path, secret in receiver.secrets.items()
                            if verify(body, header, secret, 300, time.time())
                        ),
                        "body": json.loads(body),
                        "answered": receiver.status,
                    }
                )
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[dict]:
        return [r for r in self.received if r["answered"] == 200]


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def webhooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(autouse=True)
def receivers_answer(smtp: SmtpServer, webhooks: WebhookReceiver) -> None:
    smtp.sink.refuse_with = None
    webhooks.status = 200


@pytest.fixture(scope="module")
def notify_system(private_system, smtp, webhooks, tmp_path_factory):
    home: Path = tmp_path_factory.mktemp("notify")
    # Critical Response and Organizational Assessment providers have no mailbox here; CRI-TAC ones have a webhook.
    registry = yaml.safe_load(RoutingSettings().providers_file.read_text())
    for provider in registry["providers"]:
        provider["capacity"] = 100_000
        if provider["tier"] != "cri_tac":
            provider.pop("contact_email", None)
    providers = home / "providers.yaml"
    providers.write_text(yaml.safe_dump(registry))
    cri_tac = [p["provider_id"] for p in registry["providers"] if p["tier"] == "cri_tac"]
    preferences = home / "preferences.yaml"
    preferences.write_text(yaml.safe_dump({"provider_webhooks": {p: f"{webhooks.url}/{p}" for p in cri_tac}}))
    # One signing secret per receiver (issue 16): staff's and each CRI-TAC provider's webhook its own.
    webhooks.secrets = {f"/{who}": f"e2e-webhook-secret-of-{who}" for who in ("staff", *cri_tac)}
    return private_system(
        names=("intake", "routing", "engagements", "notify"),
        env={
            "CRI_PROVIDERS_FILE": str(providers),
            "CRI_PREFERENCES_FILE": str(preferences),
            "CRI_SMTP_PORT": str(smtp.port),
            "CRI_STAFF_WEBHOOK_URL": f"{webhooks.url}/staff",
            "CRI_WEBHOOK_SECRETS": json.dumps(
                {f"{webhooks.url}{path}": secret for path, secret in webhooks.secrets.items()}
            ),
            "CRI_MAX_ATTEMPTS": "40",
            "CRI_RETRY_BASE_S": "0.2",
            "CRI_RETRY_CAP_S": "1",
            "CRI_DISPATCH_LEASE_S": "5",
        },
    )


@pytest.fixture(scope="module")
async def notify_db(notify_system) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(notify_system.infra.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def submit(notify_system, body: dict) -> str:
    async with httpx.AsyncClient(base_url=notify_system.services["intake"].url, headers=SERVICE) as client:
        response = await client.post("/v1/requests", json=body)
    assert response.status_code == 202
    return response.json()["request_id"]


async def settled(db: asyncpg.Pool, request_ids: list[str], expected: int) -> list[asyncpg.Record]:
    """Wait until the requests have `expected` deliveries each, none pending; return them."""
    seen: list[asyncpg.Record] = []

    async def done():
        seen[:] = await db.fetch(
            "SELECT delivery_id::text, request_id::text, kind, role, channel, address, status, attempts, last_error"
            " FROM notify.deliveries WHERE request_id = ANY($1::uuid[])",
            request_ids,
        )
        return len(seen) == expected * len(request_ids) and all(r["status"] != "pending" for r in seen)

    try:
        await eventually(done, timeout_s=90, what=f"{expected} settled deliveries for each of {len(request_ids)}")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; deliveries: {[(r['kind'], r['status'], r['last_error']) for r in seen]}"
        ) from None
    return list(seen)


def emails_of(smtp: SmtpServer, delivery_ids: set[str]) -> list[Message]:
    return [m for m in list(smtp.sink.messages) if m[DELIVERY_HEADER] in delivery_ids]


def emails_by_kind(smtp: SmtpServer, deliveries: list[asyncpg.Record]) -> dict[str, Message]:
    kinds = {d["delivery_id"]: d["kind"] for d in deliveries}
    return {kinds[m[DELIVERY_HEADER]]: m for m in emails_of(smtp, set(kinds))}


def text_of(message: Message) -> str:
    return "".join(part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart())


def confidential_request() -> dict:
    # An incident asking for no critical response assistance, in words of no other tier, stays with CRI-TAC.
    return sample_request(incident={"summary": TRAINING_INCIDENT, "occurred_on": "2025-01-15", "confidential": True})


def critical_incident() -> dict:
    """A recent, high-profile incident asking for an after-action review: a Critical Response."""
    recent = (date.today() - timedelta(days=5)).isoformat()
    return {"summary": INCIDENT, "occurred_on": recent, "high_profile": True, "assistance": ["after_action_review"]}


@pytest.fixture(scope="module")
async def routed_confidential(notify_system, notify_db) -> tuple[dict, list[asyncpg.Record]]:
    body = confidential_request()
    request_id = await submit(notify_system, body)
    return body, await settled(notify_db, [request_id], CRI_TAC_DELIVERIES)


async def test_the_agency_hears_of_its_request_by_name_tier_and_provider_and_the_provider_of_its_assignment(
    notify_system, routed_confidential, smtp
):
    body, deliveries = routed_confidential
    emails = emails_by_kind(smtp, deliveries)
    async with httpx.AsyncClient(base_url=notify_system.services["intake"].url, headers=SERVICE) as client:
        status = (await client.get(f"/v1/requests/{deliveries[0]['request_id']}")).json()
    assert [dict(d) for d in deliveries if d["status"] != "sent"] == []
    assert set(emails) == {
        "request_received",
        "request_routed_agency",
        "assignment_provider",
        "engagement_opened_agency",
    }
    assert emails["request_routed_agency"]["To"] == body["contact"]["email"]
    provider = next(d for d in deliveries if d["kind"] == "assignment_provider" and d["channel"] == "email")
    assert emails["assignment_provider"]["To"] == provider["address"]
    assert provider["address"].startswith("cri-tac@")
    for kind in ("request_routed_agency", "assignment_provider"):
        text = text_of(emails[kind])
        assert body["agency"]["name"] in text
        assert "CRI-TAC" in text
        assert status["provider_name"] in text


async def test_a_confidential_incident_reaches_the_agency_but_not_the_provider_nor_any_webhook(
    routed_confidential, smtp, webhooks
):
    _, deliveries = routed_confidential
    emails = emails_by_kind(smtp, deliveries)
    hooks = [r for r in webhooks.accepted() if r["delivery_id"] in {d["delivery_id"] for d in deliveries}]
    assert TRAINING_INCIDENT in text_of(emails["request_received"])
    assert TRAINING_INCIDENT not in text_of(emails["assignment_provider"])
    assert len(hooks) == 1 and TRAINING_INCIDENT not in json.dumps(hooks[0]["body"])


async def test_every_webhook_carries_its_delivery_id_and_a_signature_that_verifies(routed_confidential, webhooks):
    _, deliveries = routed_confidential
    hook = next(d for d in deliveries if d["channel"] == "webhook")
    received = [r for r in webhooks.accepted() if r["delivery_id"] == hook["delivery_id"]]
    assert len(received) == 1
    assert received[0]["verified"]
    # Signed with the receiver's own secret: no other receiver's secret verifies it (so none could forge it).
    assert received[0]["verifies_with"] == [received[0]["path"]] != ["/staff"]
    assert received[0]["body"]["delivery_id"] == hook["delivery_id"]
    assert received[0]["body"]["kind"] == "assignment_provider"


async def test_a_provider_without_a_mailbox_fails_that_delivery_only_and_it_is_dead_lettered_once(
    notify_system, notify_db, smtp
):
    # A Critical Response: its provider has no mailbox in this module's registry.
    request_id = await submit(notify_system, sample_request(incident=critical_incident()))
    deliveries = await settled(notify_db, [request_id], 4)
    failed = [d for d in deliveries if d["status"] == "failed"]
    assert [(d["kind"], d["last_error"]) for d in failed] == [
        ("assignment_provider", "missing recipient address for the provider")
    ]
    sent = {d["kind"] for d in deliveries if d["status"] == "sent"}
    assert sent == {"request_received", "request_routed_agency", "engagement_opened_agency"}
    assert set(emails_by_kind(smtp, deliveries)) == sent
    outbox = await notify_db.fetch("SELECT payload FROM notify.outbox WHERE topic = $1", topics.DEAD_LETTERS.name)
    letters = [json.loads(row["payload"])["data"] for row in outbox]
    mine = [
        letter
        for letter in letters
        if json.loads(base64.b64decode(letter["original_value_b64"]))["delivery_id"] == failed[0]["delivery_id"]
    ]
    assert len(mine) == 1
    assert mine[0]["reason"] == "missing recipient address for the provider"
    assert mine[0]["source_topic"] == topics.REQUESTS.name


async def test_staff_hear_of_a_request_needing_review_by_email_and_a_webhook_without_the_confidential_incident(
    notify_system, notify_db, smtp, webhooks
):
    # Both a Critical Response incident and Organizational Assessment concerns: routing asks staff to decide.
    incident = {**critical_incident(), "confidential": True}
    concerns = {
        "issues": ["community_trust"],
        "description": "Years of complaints.",
        "long_term_assistance_wanted": True,
        "commitment_to_implement": True,
    }
    request_id = await submit(notify_system, sample_request(incident=incident, systemic_concerns=concerns))
    deliveries = await settled(notify_db, [request_id], 3)
    staff = {d["channel"]: d for d in deliveries if d["role"] == "staff"}
    [hook] = [r for r in webhooks.accepted() if r["delivery_id"] == staff["webhook"]["delivery_id"]]
    [email] = emails_of(smtp, {staff["email"]["delivery_id"]})
    assert [dict(d) for d in deliveries if d["status"] != "sent"] == []
    assert {d["kind"] for d in staff.values()} == {"review_needed_staff"}
    assert hook["verified"] and hook["body"]["role"] == "staff"
    assert hook["verifies_with"] == ["/staff"]  # staff's own secret, none of the providers'
    assert INCIDENT not in json.dumps(hook["body"])
    assert INCIDENT in text_of(email)  # staff read it, by email only


async def test_the_delivery_log_shows_a_requests_deliveries_newest_first_without_their_text(
    notify_system, routed_confidential
):
    _, deliveries = routed_confidential
    request_id = deliveries[0]["request_id"]
    async with httpx.AsyncClient(base_url=notify_system.services["notify"].url, headers=STAFF) as client:
        listed = (await client.get("/v1/deliveries", params={"request_id": request_id})).json()
        webhook_only = (
            await client.get(
                "/v1/deliveries",
                params={
                    "request_id": request_id,
                    "recipient": next(d["address"] for d in deliveries if d["channel"] == "webhook").upper(),
                },
            )
        ).json()
        one = await client.get(f"/v1/deliveries/{listed[0]['delivery_id']}")
        missing = await client.get(f"/v1/deliveries/{request_id}")
    assert {d["delivery_id"] for d in listed} == {d["delivery_id"] for d in deliveries}
    assert [d["created_at"] for d in listed] == sorted((d["created_at"] for d in listed), reverse=True)
    assert [(d["kind"], d["channel"]) for d in webhook_only] == [("assignment_provider", "webhook")]
    assert one.json() == listed[0]
    assert {"kind", "role", "channel", "status", "attempts", "last_error", "created_at", "finished_at"} <= set(
        one.json()
    )
    assert TRAINING_INCIDENT not in json.dumps(listed)
    assert missing.status_code == 404


async def test_while_the_smtp_server_is_down_requests_are_accepted_and_each_email_arrives_once_when_it_is_back(
    notify_system, notify_db, smtp
):
    smtp.stop()
    try:
        request_ids = [await submit(notify_system, sample_request()) for _ in range(8)]

        async def retrying():
            return await notify_db.fetchval(
                "SELECT count(*) FROM notify.deliveries WHERE request_id = ANY($1::uuid[]) AND channel = 'email'"
                " AND status = 'pending' AND attempts > 1",
                request_ids,
            )

        await eventually(retrying, what="emails to be retried while the SMTP server is down")
    finally:
        smtp.start()
    deliveries = await settled(notify_db, request_ids, CRI_TAC_DELIVERIES)
    emails = {d["delivery_id"] for d in deliveries if d["channel"] == "email"}
    received = [m[DELIVERY_HEADER] for m in emails_of(smtp, emails)]
    assert [dict(d) for d in deliveries if d["status"] != "sent"] == []
    assert sorted(received) == sorted(emails)  # every one, once
    assert len({m["Message-ID"] for m in emails_of(smtp, emails)}) == len(emails)


async def test_an_smtp_server_answering_451_is_retried_until_it_accepts(notify_system, notify_db, smtp):
    smtp.sink.refuse_with = "451 4.3.0 Try again later"
    request_id = await submit(notify_system, sample_request())

    async def refused():
        return await notify_db.fetchval(
            "SELECT count(*) FROM notify.deliveries WHERE request_id = $1::uuid AND last_error LIKE 'SMTP 451%'",
            request_id,
        )

    await eventually(refused, what="a 451 answer to be recorded")
    smtp.sink.refuse_with = None
    deliveries = await settled(notify_db, [request_id], CRI_TAC_DELIVERIES)
    emails = {d["delivery_id"] for d in deliveries if d["channel"] == "email"}
    assert [dict(d) for d in deliveries if d["status"] != "sent"] == []
    assert sorted(m[DELIVERY_HEADER] for m in emails_of(smtp, emails)) == sorted(emails)


async def test_a_refused_email_is_announced_without_the_servers_words_which_only_the_delivery_log_keeps(
    notify_system, notify_db, smtp
):
    body = sample_request()
    address = body["contact"]["email"]
    smtp.sink.refuse_with = f"550 5.1.1 <{address}>: Recipient address rejected"
    try:
        request_id = await submit(notify_system, body)

        async def failed():
            return await notify_db.fetch(
                "SELECT delivery_id::text, last_error FROM notify.deliveries"
                " WHERE request_id = $1::uuid AND kind = 'request_received' AND status = 'failed'",
                request_id,
            )

        [delivery] = await eventually(failed, what="the refused acknowledgement to fail for good")
    finally:
        smtp.sink.refuse_with = None
    assert delivery["last_error"].startswith("SMTP 550 (answer: ") and address in delivery["last_error"]
    outbox = await notify_db.fetch(
        "SELECT topic, payload FROM notify.outbox WHERE topic = ANY($1)",
        [topics.NOTIFICATIONS.name, topics.DEAD_LETTERS.name],
    )
    events = [(row["topic"], json.loads(row["payload"])["data"]) for row in outbox]
    [failure] = [e for t, e in events if t == topics.NOTIFICATIONS.name and e["delivery_id"] == delivery["delivery_id"]]
    [letter] = [
        e
        for t, e in events
        if t == topics.DEAD_LETTERS.name
        and json.loads(base64.b64decode(e["original_value_b64"]))["delivery_id"] == delivery["delivery_id"]
    ]
    assert failure["reason"] == letter["reason"] == "SMTP 550"


async def test_a_webhook_answering_503_is_retried_and_delivered_once(notify_system, notify_db, webhooks):
    webhooks.status = 503
    request_id = await submit(notify_system, sample_request())

    async def refused():
        return [r for r in webhooks.received if r["answered"] == 503 and r["body"]["request_id"] == request_id]

    await eventually(refused, what="the webhook to be refused with 503")
    webhooks.status = 200
    deliveries = await settled(notify_db, [request_id], CRI_TAC_DELIVERIES)
    hook = next(d for d in deliveries if d["channel"] == "webhook")
    accepted = [r for r in webhooks.accepted() if r["delivery_id"] == hook["delivery_id"]]
    assert hook["status"] == "sent" and hook["attempts"] > 1
    assert len(accepted) == 1 and accepted[0]["verified"]


async def test_a_killed_notify_restarts_with_nothing_missing_and_nothing_doubled(
    notify_system, notify_db, smtp, webhooks
):
    notify = notify_system.services["notify"]
    request_ids = []
    for i in range(24):
        if i == 8:
            notify.kill()  # SIGKILL: no shutdown hook, deliveries may be claimed and in flight
        request_ids.append(await submit(notify_system, sample_request()))
    notify.start()
    await asyncio.to_thread(notify.wait_ready)
    deliveries = await settled(notify_db, request_ids, CRI_TAC_DELIVERIES)
    expected = {d["delivery_id"] for d in deliveries}
    received = [m[DELIVERY_HEADER] for m in emails_of(smtp, expected)]
    received += [r["delivery_id"] for r in webhooks.accepted() if r["delivery_id"] in expected]
    assert len(deliveries) == CRI_TAC_DELIVERIES * len(request_ids)  # one record per (event, recipient, channel)
    assert [dict(d) for d in deliveries if d["status"] != "sent"] == []
    assert set(received) == expected  # nothing missing
    # Nothing doubled but what the kill caught between the server's acceptance and the record of it: no sender
    # can close that gap, so such a message comes again with the same delivery id (Message-ID), for receivers
    # to drop. Every repeat must be one of those: claimed before the kill, claimed again after the restart.
    repeated = {delivery for delivery in received if received.count(delivery) > 1}
    in_flight_at_kill = {d["delivery_id"] for d in deliveries if d["attempts"] > 1}
    assert repeated <= in_flight_at_kill
    assert all(received.count(delivery) == 2 for delivery in repeated)
