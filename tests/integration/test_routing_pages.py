"""Routing's staff pages against real PostgreSQL, in a schema of their own whose CRI-TAC providers have no room,
served in process with a fake session lookup (shared/runtime/web's SessionLookup: a token to a person), so each
test says who is signed in: the queue's order, the assignment in the signed-in staff member's name, the form's
refusals as pages (nothing chosen, a full provider, a stale page), and the 403 page for other roles."""

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.routing import pages, store
from services.routing.commands import reassign
from services.routing.domain.policy import load_policy
from services.routing.domain.providers import load_providers
from services.routing.handlers import make_handlers
from services.routing.intake import Intake
from services.routing.settings import POLICY_FILE, PROVIDERS_FILE
from shared.contract.envelope import Envelope
from shared.contract.events import RequestReceived
from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Tier
from shared.runtime.auth import Role
from shared.runtime.db import create_pool, migrate
from shared.runtime.outbox import unit_of_work
from shared.runtime.web.csrf import csrf_token
from shared.runtime.web.pages import Web
from shared.runtime.web.session import COOKIE, Person
from tests.e2e.test_routing_staff import CONFLICTING
from tests.support import free_port, sample_request

POLICY = load_policy(POLICY_FILE)
MIGRATIONS = Path(__file__).parents[2] / "services" / "routing" / "migrations"
TEMPLATES = Path(__file__).parents[2] / "services" / "routing" / "templates"
SIGN_IN = "http://intake.example/sign-in"
PEOPLE = {
    "staff": Person(role=Role.STAFF, subject="a.rivera@cops.example.gov", email="a.rivera@cops.example.gov", name="A"),
    "agency": Person(role=Role.AGENCY, subject="ori:IL0990001", email="chief@agency.example.gov", name="Chief"),
    "provider": Person(role=Role.PROVIDER, subject="iacp", email="cri-tac@iacp.example.org", name="IACP"),
}


@pytest.fixture
async def routing_pool(infra) -> AsyncIterator[asyncpg.Pool]:
    schema = f"routing_pages_{uuid4().hex[:8]}"
    await migrate(infra.database_url, schema, MIGRATIONS)
    pool = await create_pool(infra.database_url, schema, 4)
    no_cri_tac_room = [
        record.model_copy(update={"capacity": 0}) if record.tier == Tier.CRI_TAC else record
        for record in load_providers(PROVIDERS_FILE)
    ]
    async with pool.acquire() as conn:
        await store.seed_providers(conn, no_cri_tac_room)
    yield pool
    async with pool.acquire() as conn:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()


@pytest.fixture
def app(routing_pool) -> FastAPI:
    async def lookup(token: str) -> Person | None:
        return PEOPLE.get(token)

    app = FastAPI()
    app.state.runtime = SimpleNamespace(pool=routing_pool)
    app.state.policy = POLICY
    # Nothing listens there: intake cannot be read (tests/e2e/test_triage_pages.py reads a real one).
    app.state.intake = Intake(httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=2.0), "key")
    pages.install(app, Web([TEMPLATES], lookup, sign_in_url=SIGN_IN))
    return app


def browser(app: FastAPI, who: str | None) -> httpx.AsyncClient:
    """A browser of the person `who` (signed in) or of nobody."""
    cookies = {COOKIE: who} if who else {}
    transport = httpx.ASGITransport(app=app)
    headers = {"Accept": "text/html"}
    return httpx.AsyncClient(transport=transport, base_url="http://routing", cookies=cookies, headers=headers)


async def submitted(pool: asyncpg.Pool, **overrides) -> UUID:
    """A request decided by the policy, through the handler the service runs."""
    event = RequestReceived(
        request_id=uuid4(),
        submitted_at=datetime.now(UTC),
        channel="http",
        request=RequestForAssistance.model_validate(sample_request(**overrides)).without_contact(),
    )
    envelope = Envelope.wrap(event, source="intake", correlation_id=str(event.request_id))
    async with unit_of_work(pool) as uow:
        await make_handlers(POLICY)[RequestReceived](uow, envelope, event)
    return event.request_id


def assignment(**fields: str) -> dict[str, str]:
    return {"csrf_token": csrf_token("staff"), "decisions_seen": "1", "reason": "The incident first.", **fields}


def text_of(page: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


async def test_the_queue_lists_review_then_waiting_each_most_urgent_first_then_oldest(app, routing_pool):
    routine = await submitted(routing_pool, **CONFLICTING)
    urgent = await submitted(routing_pool, **CONFLICTING, urgency="urgent")
    waiting = await submitted(routing_pool)  # CRI-TAC, where no provider has room
    async with browser(app, "staff") as staff:
        page = await staff.get("/triage", params={"assigned": str(routine)})  # not assigned: nothing to say
    assert page.status_code == 200
    assert "2 in review, 1 waiting for a place" in text_of(page)
    assert "is assigned to" not in text_of(page)
    order = [page.text.index(f"/triage/requests/{r}") for r in (urgent, routine, waiting)]
    assert order == sorted(order)
    assert "Conflicting signals: both Critical Response and Organizational Assessment apply" in text_of(page)


async def test_staff_assign_a_request_in_their_own_name_and_the_queue_says_where_it_went(app, routing_pool):
    request_id = await submitted(routing_pool, **CONFLICTING)
    async with browser(app, "staff") as staff:
        before = await staff.get(f"/triage/requests/{request_id}")
        chosen = assignment(tier="critical_response", provider_id="national-policing-institute")
        posted = await staff.post(f"/triage/requests/{request_id}/assignment", data=chosen)
        queue = await staff.get(posted.headers["location"])
    assert 'name="decisions_seen" value="1"' in before.text
    assert posted.status_code == 303 and posted.headers["location"] == f"/triage?assigned={request_id}"
    assert "is assigned to National Policing Institute (Critical Response)" in text_of(queue)
    assert f'/triage/requests/{request_id}"' not in queue.text.split("In review")[-1]
    async with routing_pool.acquire() as conn:
        decision = (await store.decisions_of(conn, request_id))[-1]
    assert (decision.decided_by, decision.staff_member, decision.reason) == (
        "staff",
        "a.rivera@cops.example.gov",
        "The incident first.",
    )


async def test_an_empty_form_comes_back_with_a_message_for_each_field(app, routing_pool):
    request_id = await submitted(routing_pool, **CONFLICTING)
    async with browser(app, "staff") as staff:
        page = await staff.post(f"/triage/requests/{request_id}/assignment", data=assignment(reason=""))
    assert page.status_code == 422
    shown = text_of(page)
    assert "There are 3 problems" in shown and "<title>Error: " in page.text
    for message in ("Choose the tier.", "Choose the provider.", "Say why"):
        assert message in shown
    assert 'href="#tier"' in page.text and 'id="provider_id-error"' in page.text


async def test_a_full_provider_is_refused_with_a_warning_and_the_box_assigns_beyond_its_capacity(app, routing_pool):
    request_id = await submitted(routing_pool, **CONFLICTING)
    url = f"/triage/requests/{request_id}/assignment"
    async with browser(app, "staff") as staff:
        refused = await staff.post(url, data=assignment(tier="cri_tac", provider_id="iacp"))
        forced = await staff.post(url, data=assignment(tier="cri_tac", provider_id="iacp", force="yes"))
    assert refused.status_code == 409
    assert "This provider has no room left" in text_of(refused)
    assert "The incident first.</textarea>" in refused.text  # what was entered is kept
    assert forced.status_code == 303
    async with routing_pool.acquire() as conn:
        decision = (await store.decisions_of(conn, request_id))[-1]
    assert decision.rules_fired == ["staff.override", "staff.over_capacity"]


async def test_a_provider_of_another_tier_is_refused_beside_the_provider_field(app, routing_pool):
    request_id = await submitted(routing_pool, **CONFLICTING)
    async with browser(app, "staff") as staff:
        page = await staff.post(
            f"/triage/requests/{request_id}/assignment", data=assignment(tier="critical_response", provider_id="iacp")
        )
    assert page.status_code == 422
    assert "Provider &#39;iacp&#39; delivers cri_tac, not critical_response." in page.text


async def test_a_request_decided_again_since_its_page_was_shown_comes_back_as_it_is_now(app, routing_pool):
    request_id = await submitted(routing_pool, **CONFLICTING)
    async with unit_of_work(routing_pool) as uow:  # another staff member, meanwhile
        await reassign(
            uow,
            request_id,
            Tier.CRITICAL_RESPONSE,
            "national-policing-institute",
            staff_member="someone.else",
            reason="Urgent.",
            force=False,
            policy=POLICY,
        )
    async with browser(app, "staff") as staff:
        page = await staff.post(
            f"/triage/requests/{request_id}/assignment",
            data=assignment(tier="organizational_assessment", provider_id="oa-provider"),
        )
    assert page.status_code == 409
    shown = text_of(page)
    assert "This request changed since you opened it" in shown
    assert "Routed: Critical Response with National Policing Institute" in shown
    async with routing_pool.acquire() as conn:
        assert len(await store.decisions_of(conn, request_id)) == 2  # nothing of the stale form was saved


@pytest.mark.parametrize("path", ["/triage", "/triage/requests/{id}", "/providers"])
@pytest.mark.parametrize("who", ["agency", "provider"])
async def test_other_roles_get_the_403_page(app, routing_pool, who, path):
    request_id = await submitted(routing_pool, **CONFLICTING)
    async with browser(app, who) as person:
        page = await person.get(path.format(id=request_id))
    assert page.status_code == 403
    assert f"This page is not open to the {who} role." in page.text and "<h1>" in page.text


async def test_someone_not_signed_in_is_sent_to_sign_in_and_a_form_from_elsewhere_is_refused(app, routing_pool):
    request_id = await submitted(routing_pool, **CONFLICTING)
    async with browser(app, None) as nobody:
        sent = await nobody.get("/triage")
    forged = assignment(tier="critical_response", provider_id="national-policing-institute", csrf_token="0" * 64)
    async with browser(app, "staff") as staff:
        refused = await staff.post(f"/triage/requests/{request_id}/assignment", data=forged)
        unknown = await staff.get(f"/triage/requests/{uuid4()}")
    assert sent.status_code == 303 and sent.headers["location"] == SIGN_IN
    assert refused.status_code == 403 and "This form has expired" in refused.text
    async with routing_pool.acquire() as conn:
        assert len(await store.decisions_of(conn, request_id)) == 1
    assert unknown.status_code == 404 and "Routing has no request with this id." in unknown.text


async def test_a_request_page_says_when_intake_cannot_give_the_contact_person_and_still_offers_assignment(
    app, routing_pool
):
    request_id = await submitted(routing_pool, **CONFLICTING)
    async with browser(app, "staff") as staff:
        page = await staff.get(f"/triage/requests/{request_id}")
    assert page.status_code == 200
    assert "Cannot be read from intake just now" in page.text
    assert 'action="/triage/requests/' in page.text
