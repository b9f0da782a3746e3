"""Who may call what: every HTTP API of the four services, cell by cell, per kind of caller (docs/security.md).

A private system whose CRI_API_KEYS names an agency, two CRI-TAC providers, staff and another system (service).
Each CRI-TAC provider has room for one engagement, so the agency's request opens provider A's engagement and
another agency's request opens provider B's. Cells that would change state send a stale expected_version: an
admitted caller is refused only by that (409), so no cell changes what another cell sees.

People's pages (the provider workspace, the dashboard) are asked by people signed in by emailed link, as
browsers ask: the session cookie, the form token it keys, `Accept: text/html`; a refusal is a page.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.routing.settings import PROVIDERS_FILE
from shared.runtime.web.csrf import csrf_token
from shared.runtime.web.session import COOKIE
from tests.e2e.test_signin import ask_for_link, emailed_link, use_link
from tests.support import auth, eventually, sample_request

pytestmark = pytest.mark.e2e

AGENCY_ORI = "IL0990001"
PROVIDERS = ("iacp", "fop")  # the only CRI-TAC providers here, with room for one engagement each
KEYS = {
    "agency": ("agency-key-4f1c9a0e", {"role": "agency", "subject": f"ori:{AGENCY_ORI}"}),
    "iacp": ("provider-key-iacp-7d2b", {"role": "provider", "subject": "iacp"}),
    "fop": ("provider-key-fop-91e3c", {"role": "provider", "subject": "fop"}),
    "staff": ("staff-key-0c55e1a7b", {"role": "staff", "subject": "a.rivera"}),
    "service": ("service-key-b8d2f40c", {"role": "service", "subject": "state-portal"}),
}
STAFF_EMAIL = "a.rivera@cops.example.gov"
UNKNOWN_KEY = "nobody-knows-this-key"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
STALE = 1000  # an expected_version no engagement has


def own_request() -> dict:
    return sample_request(agency__ori=AGENCY_ORI)


@dataclass(frozen=True)
class World:
    """The private system, which provider is A and which B, and the ids cells refer to."""

    urls: dict[str, str]
    providers: dict[str, str]  # "provider-A" -> provider_id
    ids: dict[str, str]  # own_request, other_request, engagement_A, engagement_B, unknown
    sessions: dict[str, str]  # "provider-A-person" -> its session cookie

    def headers(self, caller: str) -> dict[str, str]:
        if caller in self.sessions:
            return {"Cookie": f"{COOKIE}={self.sessions[caller]}", "Accept": "text/html"}
        if caller == "nobody":
            return {}
        if caller == "stranger":
            return auth(UNKNOWN_KEY)
        return auth(KEYS[self.providers.get(caller, caller)][0])


@dataclass(frozen=True)
class Cell:
    caller: str  # agency, provider-A, provider-B, staff, service, nobody (no key), stranger (unknown key), *-person
    does: str
    service: str
    method: str
    path: str  # may name ids of the world: {own_request}, {engagement_A}...
    expected: int
    body: Callable[[], dict] | dict | None = None
    params: dict[str, str] | None = None
    outcome: str = ""  # what the id says instead of the status alone
    check: Callable[[World, Any], None] | None = None
    form: dict[str, str] | None = None  # posted as a browser posts a form, with the caller's form token

    def __str__(self) -> str:
        return f"{self.caller} {self.does} -> {self.outcome or self.expected}"


def _sees_only(*engagements: str) -> Callable[[World, httpx.Response], None]:
    def check(world: World, answer: httpx.Response) -> None:
        listed = {item["engagement_id"] for item in answer.json()["items"]}
        wanted = {world.ids[e] for e in engagements}
        others = {world.ids[e] for e in ("engagement_A", "engagement_B")} - wanted
        assert wanted <= listed and not others & listed, listed

    return check


def _page_lists_only(*engagements: str) -> Callable[[World, httpx.Response], None]:
    def check(world: World, answer: httpx.Response) -> None:
        wanted = {world.ids[e] for e in engagements}
        others = {world.ids[e] for e in ("engagement_A", "engagement_B")} - wanted
        assert all(f"/engagements/{e}" in answer.text for e in wanted), answer.text
        assert not any(f"/engagements/{e}" in answer.text for e in others), answer.text

    return check


def _signs_in(world: World, answer: httpx.Response) -> None:
    assert answer.headers["location"].startswith(f"{world.urls['intake']}/sign-in"), answer.headers


def _refused_page(world: World, answer: httpx.Response) -> None:
    assert answer.headers["content-type"].startswith("text/html") and "<h1>" in answer.text


MILESTONE = {"expected_version": STALE, "milestone": "scoping"}
CLOSURE = {"expected_version": STALE, "outcome": "withdrawn", "note": "n"}
ESCALATION = {"expected_version": STALE, "to_tier": "critical_response", "reason": "r"}
RECOMMENDATION = {"text": "Adopt a written policy"}
CHANGE = {"status": "accepted"}
MILESTONE_FORM = {"expected_version": str(STALE), "milestone": "scoping"}
CLOSURE_FORM = {"expected_version": str(STALE), "outcome": "withdrawn", "closure-note": "n"}
ESCALATION_FORM = {"expected_version": str(STALE), "to_tier": "critical_response", "reason": "r"}
P_A = "/engagements/{engagement_A}"
CHANGED = "409: admitted, the page says the engagement changed"
ASSIGNMENT = {"tier": "cri_tac", "provider_id": "iacp", "reason": "r"}
TRIAGE = "/triage/requests/{own_request}"
# A page that showed no history: an admitted post is refused as stale, and changes nothing.
TRIAGE_FORM = {"decisions_seen": str(STALE), "tier": "cri_tac", "provider_id": "iacp", "reason": "r"}
E_A = "/v1/engagements/{engagement_A}"
ADMITTED = "409: admitted, refused only by the stale version"

# The table of docs/security.md, row by row: who, does what, where, and the answer.
# fmt: off
CELLS = [
    # intake: agencies for themselves only; other systems and staff for anyone
    Cell("agency", "submits a request for itself", "intake", "POST", "/v1/requests", 202, own_request),
    Cell("agency", "submits a request for another agency", "intake", "POST", "/v1/requests", 403, sample_request),
    Cell("service", "submits a request", "intake", "POST", "/v1/requests", 202, sample_request),
    Cell("staff", "submits a request", "intake", "POST", "/v1/requests", 202, sample_request),
    Cell("provider-A", "submits a request", "intake", "POST", "/v1/requests", 403, sample_request),
    Cell("nobody", "submits a request", "intake", "POST", "/v1/requests", 401, sample_request),
    Cell("stranger", "submits a request", "intake", "POST", "/v1/requests", 401, sample_request),
    Cell("agency", "reads its own request", "intake", "GET", "/v1/requests/{own_request}", 200),
    Cell("agency", "reads another agency's request", "intake", "GET", "/v1/requests/{other_request}", 403),
    Cell("staff", "reads a request", "intake", "GET", "/v1/requests/{own_request}", 200),
    Cell("service", "reads a request", "intake", "GET", "/v1/requests/{own_request}", 200),
    Cell("provider-A", "reads the request of its engagement", "intake", "GET", "/v1/requests/{own_request}", 403),
    Cell("nobody", "reads a request", "intake", "GET", "/v1/requests/{own_request}", 401),
    Cell("agency", "reads its own request's contact", "intake", "GET", "/v1/requests/{own_request}/contact", 200),
    Cell("agency", "reads another agency's contact", "intake", "GET", "/v1/requests/{other_request}/contact", 403),
    Cell("service", "reads a request's contact", "intake", "GET", "/v1/requests/{own_request}/contact", 200),
    Cell("provider-A", "reads a request's contact", "intake", "GET", "/v1/requests/{own_request}/contact", 403),
    Cell("nobody", "reads a request's contact", "intake", "GET", "/v1/requests/{own_request}/contact", 401),
    # routing: staff only, but the registry's read also admits a service (engagements' dashboard reads capacity)
    Cell("staff", "reads a decision history", "routing", "GET", "/v1/requests/{own_request}/decisions", 200),
    Cell("staff", "reads the provider registry", "routing", "GET", "/v1/providers", 200),
    Cell("staff", "overrides an unknown request", "routing", "POST", "/v1/requests/{unknown}/assignment", 404,
         ASSIGNMENT, outcome="404: admitted"),
    Cell("service", "reads a decision history", "routing", "GET", "/v1/requests/{own_request}/decisions", 403),
    Cell("service", "reads the provider registry", "routing", "GET", "/v1/providers", 200),
    Cell("agency", "reads its decision history", "routing", "GET", "/v1/requests/{own_request}/decisions", 403),
    Cell("provider-A", "reads the provider registry", "routing", "GET", "/v1/providers", 403),
    Cell("service", "overrides a routing", "routing", "POST", "/v1/requests/{own_request}/assignment", 403, ASSIGNMENT),
    Cell("stranger", "reads the provider registry", "routing", "GET", "/v1/providers", 401),
    # routing's staff pages: program staff signed in, nobody else; the API keeps its keys
    Cell("staff-person", "opens the triage queue", "routing", "GET", "/triage", 200),
    Cell("staff-person", "opens a request's triage page", "routing", "GET", TRIAGE, 200),
    Cell("staff-person", "opens the provider registry page", "routing", "GET", "/providers", 200),
    Cell("staff-person", "assigns on a request's triage page", "routing", "POST", f"{TRIAGE}/assignment", 409,
         form=TRIAGE_FORM, outcome="409: admitted, the page says the request changed"),
    Cell("agency-person", "opens the triage queue", "routing", "GET", "/triage", 403, check=_refused_page),
    Cell("agency-person", "opens its request's triage page", "routing", "GET", TRIAGE, 403, check=_refused_page),
    Cell("agency-person", "assigns on a request's triage page", "routing", "POST", f"{TRIAGE}/assignment", 403,
         form=TRIAGE_FORM, check=_refused_page),
    Cell("provider-A-person", "opens the triage queue", "routing", "GET", "/triage", 403, check=_refused_page),
    Cell("provider-A-person", "opens the provider registry page", "routing", "GET", "/providers", 403,
         check=_refused_page),
    Cell("provider-A-person", "assigns on a request's triage page", "routing", "POST", f"{TRIAGE}/assignment", 403,
         form=TRIAGE_FORM, check=_refused_page),
    Cell("nobody", "opens the triage queue", "routing", "GET", "/triage", 303, outcome="303: to sign in",
         check=_signs_in),
    Cell("staff", "opens the triage queue with its key", "routing", "GET", "/triage", 303,
         outcome="303: pages are for people signed in", check=_signs_in),
    Cell("staff-person", "reads the provider registry API with a session", "routing", "GET", "/v1/providers", 401,
         outcome="401: the API takes keys"),
    # engagements: staff and other systems read all; a provider its own; staff alone escalate
    Cell("staff", "lists engagements", "engagements", "GET", "/v1/engagements", 200, outcome="all",
         check=_sees_only("engagement_A", "engagement_B")),
    Cell("service", "lists engagements", "engagements", "GET", "/v1/engagements", 200, outcome="all",
         check=_sees_only("engagement_A", "engagement_B")),
    Cell("provider-A", "lists engagements", "engagements", "GET", "/v1/engagements", 200, outcome="only its own",
         check=_sees_only("engagement_A")),
    Cell("provider-B", "lists engagements", "engagements", "GET", "/v1/engagements", 200, outcome="only its own",
         check=_sees_only("engagement_B")),
    Cell("provider-A", "lists provider-B's engagements", "engagements", "GET", "/v1/engagements", 403,
         params={"provider_id": "{provider-B}"}),
    Cell("agency", "lists engagements", "engagements", "GET", "/v1/engagements", 403),
    Cell("nobody", "lists engagements", "engagements", "GET", "/v1/engagements", 401),
    Cell("provider-A", "reads its engagement", "engagements", "GET", E_A, 200),
    Cell("staff", "reads provider-A's engagement", "engagements", "GET", E_A, 200),
    Cell("service", "reads provider-A's engagement", "engagements", "GET", E_A, 200),
    Cell("provider-B", "reads provider-A's engagement", "engagements", "GET", E_A, 403),
    Cell("agency", "reads the engagement of its request", "engagements", "GET", E_A, 403),
    Cell("provider-A", "records a milestone on its engagement", "engagements", "POST", f"{E_A}/milestones", 409,
         MILESTONE, outcome=ADMITTED),
    Cell("staff", "records a milestone", "engagements", "POST", f"{E_A}/milestones", 409, MILESTONE, outcome=ADMITTED),
    Cell("provider-B", "records a milestone on provider-A's engagement", "engagements", "POST", f"{E_A}/milestones",
         403, MILESTONE),
    Cell("service", "records a milestone", "engagements", "POST", f"{E_A}/milestones", 403, MILESTONE),
    Cell("agency", "records a milestone", "engagements", "POST", f"{E_A}/milestones", 403, MILESTONE),
    Cell("provider-A", "closes its engagement", "engagements", "POST", f"{E_A}/closure", 409, CLOSURE,
         outcome=ADMITTED),
    Cell("staff", "closes an engagement", "engagements", "POST", f"{E_A}/closure", 409, CLOSURE, outcome=ADMITTED),
    Cell("provider-B", "closes provider-A's engagement", "engagements", "POST", f"{E_A}/closure", 403, CLOSURE),
    Cell("service", "closes an engagement", "engagements", "POST", f"{E_A}/closure", 403, CLOSURE),
    Cell("staff", "escalates an engagement", "engagements", "POST", f"{E_A}/escalation", 409, ESCALATION,
         outcome=ADMITTED),
    Cell("provider-A", "escalates its engagement", "engagements", "POST", f"{E_A}/escalation", 403, ESCALATION),
    Cell("service", "escalates an engagement", "engagements", "POST", f"{E_A}/escalation", 403, ESCALATION),
    Cell("provider-A", "reads its recommendations", "engagements", "GET", f"{E_A}/recommendations", 200),
    Cell("service", "reads recommendations", "engagements", "GET", f"{E_A}/recommendations", 200),
    Cell("provider-B", "reads provider-A's recommendations", "engagements", "GET", f"{E_A}/recommendations", 403),
    Cell("provider-A", "proposes a recommendation on its CRI-TAC engagement", "engagements", "POST",
         f"{E_A}/recommendations", 409, RECOMMENDATION, outcome="409: admitted, refused by the lifecycle"),
    Cell("provider-B", "proposes a recommendation on provider-A's engagement", "engagements", "POST",
         f"{E_A}/recommendations", 403, RECOMMENDATION),
    Cell("service", "proposes a recommendation", "engagements", "POST", f"{E_A}/recommendations", 403, RECOMMENDATION),
    Cell("provider-A", "changes an unknown recommendation of its engagement", "engagements", "PATCH",
         f"{E_A}/recommendations/{{unknown}}", 404, CHANGE, outcome="404: admitted"),
    Cell("provider-B", "changes a recommendation of provider-A's engagement", "engagements", "PATCH",
         f"{E_A}/recommendations/{{unknown}}", 403, CHANGE),
    # the dashboard: staff only
    Cell("staff", "reads the dashboard figures", "engagements", "GET", "/dashboard/summary", 200),
    Cell("service", "reads the dashboard figures", "engagements", "GET", "/dashboard/summary", 403),
    Cell("provider-A", "reads the dashboard figures", "engagements", "GET", "/dashboard/summary", 403),
    Cell("nobody", "reads the dashboard figures", "engagements", "GET", "/dashboard/summary", 401),
    Cell("nobody", "opens the dashboard", "engagements", "GET", "/dashboard", 303, outcome="303: to sign in",
         check=_signs_in),
    Cell("staff-person", "opens the dashboard", "engagements", "GET", "/dashboard", 200),
    Cell("staff-person", "follows the dashboard's figures", "engagements", "GET", "/dashboard/summary", 200),
    Cell("provider-A-person", "opens the dashboard", "engagements", "GET", "/dashboard", 403, check=_refused_page),
    Cell("agency-person", "opens the dashboard", "engagements", "GET", "/dashboard", 403, check=_refused_page),
    # the provider workspace (pages): a provider its own engagements, staff all; agency people never
    Cell("provider-A-person", "lists its engagements", "engagements", "GET", "/engagements", 200,
         outcome="only its own", check=_page_lists_only("engagement_A")),
    Cell("provider-B-person", "lists its engagements", "engagements", "GET", "/engagements", 200,
         outcome="only its own", check=_page_lists_only("engagement_B")),
    Cell("staff-person", "lists engagements", "engagements", "GET", "/engagements", 200, outcome="all",
         check=_page_lists_only("engagement_A", "engagement_B")),
    Cell("agency-person", "lists engagements", "engagements", "GET", "/engagements", 403, check=_refused_page),
    Cell("nobody", "lists engagements", "engagements", "GET", "/engagements", 303, outcome="303: to sign in",
         check=_signs_in),
    Cell("provider-A-person", "opens its engagement", "engagements", "GET", P_A, 200),
    Cell("staff-person", "opens provider-A's engagement", "engagements", "GET", P_A, 200),
    Cell("provider-B-person", "opens provider-A's engagement", "engagements", "GET", P_A, 403, check=_refused_page),
    Cell("agency-person", "opens the engagement of its request", "engagements", "GET", P_A, 403,
         check=_refused_page),
    Cell("provider-A-person", "records a milestone on its engagement", "engagements", "POST", f"{P_A}/milestones",
         409, form=MILESTONE_FORM, outcome=CHANGED),
    Cell("staff-person", "records a milestone", "engagements", "POST", f"{P_A}/milestones", 409,
         form=MILESTONE_FORM, outcome=CHANGED),
    Cell("provider-B-person", "records a milestone on provider-A's engagement", "engagements", "POST",
         f"{P_A}/milestones", 403, form=MILESTONE_FORM, check=_refused_page),
    Cell("agency-person", "records a milestone", "engagements", "POST", f"{P_A}/milestones", 403,
         form=MILESTONE_FORM, check=_refused_page),
    Cell("provider-A-person", "closes its engagement", "engagements", "POST", f"{P_A}/closure", 409,
         form=CLOSURE_FORM, outcome=CHANGED),
    Cell("provider-B-person", "closes provider-A's engagement", "engagements", "POST", f"{P_A}/closure", 403,
         form=CLOSURE_FORM, check=_refused_page),
    Cell("staff-person", "escalates an engagement", "engagements", "POST", f"{P_A}/escalation", 409,
         form=ESCALATION_FORM, outcome=CHANGED),
    Cell("provider-A-person", "escalates its engagement", "engagements", "POST", f"{P_A}/escalation", 403,
         form=ESCALATION_FORM, check=_refused_page),
    Cell("provider-A-person", "proposes a recommendation on its CRI-TAC engagement", "engagements", "POST",
         f"{P_A}/recommendations", 409, form={"text": "Adopt a written policy"},
         outcome="409: admitted, the page says what the lifecycle allows"),
    Cell("provider-B-person", "proposes a recommendation on provider-A's engagement", "engagements", "POST",
         f"{P_A}/recommendations", 403, form={"text": "Adopt a written policy"}, check=_refused_page),
    Cell("provider-A-person", "changes an unknown recommendation of its engagement", "engagements", "POST",
         f"{P_A}/recommendations/{{unknown}}", 404, form={"status": "accepted"}, outcome="404: admitted"),
    # notify: the delivery log names recipients; staff and other systems
    Cell("staff", "reads the delivery log", "notify", "GET", "/v1/deliveries", 200),
    Cell("service", "reads the delivery log", "notify", "GET", "/v1/deliveries", 200),
    Cell("provider-A", "reads the delivery log", "notify", "GET", "/v1/deliveries", 403),
    Cell("agency", "reads the delivery log", "notify", "GET", "/v1/deliveries", 403),
    Cell("nobody", "reads a delivery", "notify", "GET", "/v1/deliveries/{unknown}", 401),
]
# fmt: on


@pytest.fixture(scope="module")
def keyed_system(private_system, tmp_path_factory):
    registry = yaml.safe_load(PROVIDERS_FILE.read_text())
    registry["providers"] = [
        {**p, "capacity": 1} if p["provider_id"] in PROVIDERS else p
        for p in registry["providers"]
        if p["tier"] != "cri_tac" or p["provider_id"] in PROVIDERS
    ]
    providers = Path(tmp_path_factory.mktemp("authorization")) / "providers.yaml"
    providers.write_text(yaml.safe_dump(registry))
    api_keys = json.dumps(dict(KEYS.values()))
    staff = json.dumps({STAFF_EMAIL: "A. Rivera"})
    return private_system(
        env={
            "CRI_API_KEYS": api_keys,
            "CRI_PROVIDERS_FILE": str(providers),
            "CRI_STAFF_EMAILS": staff,
            "CRI_INTAKE_API_KEY": KEYS["service"][0],  # how routing's and engagements' pages ask intake
        }
    ), {p["provider_id"]: p["contact_email"] for p in registry["providers"]}


async def _session(intake_url: str, maildir: Path, email: str) -> str:
    """A session of the person `email`, signed in as a browser does: the emailed link, used once."""
    async with httpx.AsyncClient(base_url=intake_url) as browser:
        assert (await ask_for_link(browser, email)).status_code == 200
        signed_in = await use_link(browser, await emailed_link(maildir, email))
        assert signed_in.status_code == 303, signed_in.text
        return browser.cookies[COOKIE]


async def _engagement_of(client: httpx.AsyncClient, body: dict) -> tuple[str, dict]:
    request_id = (await client.post("/v1/requests", json=body)).json()["request_id"]

    async def opened():
        found = (await client.get(f"/v1/requests/{request_id}")).json()
        return found if found["engagement_id"] else None

    return request_id, await eventually(opened, timeout_s=60, what="the request's engagement")


@pytest.fixture(scope="module")
async def world(keyed_system) -> World:
    keyed_system, mailboxes = keyed_system
    urls = {name: service.url for name, service in keyed_system.services.items()}
    async with httpx.AsyncClient(base_url=urls["intake"], headers=auth(KEYS["agency"][0])) as agency:
        own, status_a = await _engagement_of(agency, own_request())
    async with httpx.AsyncClient(base_url=urls["intake"], headers=auth(KEYS["service"][0])) as service:
        other, status_b = await _engagement_of(service, sample_request())
    providers = {"provider-A": status_a["provider_id"], "provider-B": status_b["provider_id"]}
    assert sorted(providers.values()) == sorted(PROVIDERS), providers  # one engagement each
    ids = {
        "own_request": own,
        "other_request": other,
        "engagement_A": status_a["engagement_id"],
        "engagement_B": status_b["engagement_id"],
        "unknown": UNKNOWN_ID,
        "provider-B": providers["provider-B"],
    }
    people = {
        "agency-person": own_request()["contact"]["email"],
        "provider-A-person": mailboxes[providers["provider-A"]],
        "provider-B-person": mailboxes[providers["provider-B"]],
        "staff-person": STAFF_EMAIL,
    }
    maildir = keyed_system.infra.maildir
    sessions = {person: await _session(urls["intake"], maildir, email) for person, email in people.items()}
    return World(urls, providers, ids, sessions)


@pytest.mark.parametrize("cell", CELLS, ids=str)
async def test_who_may_call_what(world: World, cell: Cell) -> None:
    body = cell.body() if callable(cell.body) else cell.body
    params = {name: value.format_map(world.ids) for name, value in (cell.params or {}).items()}
    form = None
    if cell.form is not None:  # with the token of the caller's session, as the page would carry it
        form = {**cell.form, "csrf_token": csrf_token(world.sessions.get(cell.caller, "none"))}
    async with httpx.AsyncClient(base_url=world.urls[cell.service], headers=world.headers(cell.caller)) as client:
        path = cell.path.format_map(world.ids)
        response = await client.request(cell.method, path, json=body, data=form, params=params)
    assert response.status_code == cell.expected, response.text
    if cell.expected == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    if cell.check:
        cell.check(world, response)


async def test_a_staff_key_signs_a_browser_in_to_the_dashboard_with_a_cookie_that_opens_page_and_figures(world):
    async with httpx.AsyncClient(base_url=world.urls["engagements"]) as browser:
        signed_in = await browser.get("/dashboard/sign-in", params={"key": KEYS["staff"][0]})
        page = await browser.get("/dashboard")
        figures = await browser.get("/dashboard/summary")
    assert signed_in.status_code == 303
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    assert "samesite=strict" in signed_in.headers["set-cookie"].lower()
    assert (page.status_code, figures.status_code) == (200, 200)


@pytest.mark.parametrize("key", [KEYS["service"][0], KEYS["iacp"][0], UNKNOWN_KEY])
async def test_only_a_staff_key_signs_in_to_the_dashboard(world, key):
    async with httpx.AsyncClient(base_url=world.urls["engagements"]) as browser:
        refused = await browser.get("/dashboard/sign-in", params={"key": key})
        figures = await browser.get("/dashboard/summary")
    assert refused.status_code in (401, 403)
    assert "set-cookie" not in refused.headers
    assert figures.status_code == 401


async def test_a_provider_key_records_in_its_own_name_only(world):
    """What a provider's key records is recorded as that provider; a body cannot name anyone else."""
    engagement = world.ids["engagement_A"]
    provider = world.providers["provider-A"]
    async with httpx.AsyncClient(base_url=world.urls["engagements"], headers=world.headers("provider-A")) as api:
        as_someone = {"milestone": "scoping", "expected_version": 1, "recorded_by": f"staff:{STAFF_EMAIL}"}
        refused = await api.post(f"/v1/engagements/{engagement}/milestones", json=as_someone)
        recorded = await api.post(
            f"/v1/engagements/{engagement}/milestones", json={"milestone": "scoping", "expected_version": 1}
        )
        timeline = (await api.get(f"/v1/engagements/{engagement}")).json()
    assert refused.status_code == 422
    assert recorded.status_code == 200, recorded.text
    assert timeline["milestones"][-1]["recorded_by"] == f"provider:{provider}"
    assert (timeline["audit_trail"][-1]["action"], timeline["audit_trail"][-1]["actor"]) == (
        "milestone",
        f"provider:{provider}",
    )


async def test_a_signed_in_provider_records_in_its_own_name(world):
    """The same through the pages: the signed-in provider is who the milestone is recorded by."""
    engagement = world.ids["engagement_B"]
    provider = world.providers["provider-B"]
    session = world.sessions["provider-B-person"]
    form = {
        "expected_version": "1",
        "milestone": "scoping",
        "scoping-note": "called the chief",
        "csrf_token": csrf_token(session),
    }
    async with httpx.AsyncClient(
        base_url=world.urls["engagements"], headers=world.headers("provider-B-person")
    ) as browser:
        posted = await browser.post(f"/engagements/{engagement}/milestones", data=form)
    async with httpx.AsyncClient(base_url=world.urls["engagements"], headers=world.headers("staff")) as api:
        timeline = (await api.get(f"/v1/engagements/{engagement}")).json()
    assert posted.status_code == 303 and posted.headers["location"].startswith(f"/engagements/{engagement}")
    assert timeline["audit_trail"][-1]["actor"] == f"provider:{provider}"
    assert timeline["audit_trail"][-1]["reason"] == "called the chief"


async def test_a_form_without_the_sessions_token_is_refused(world):
    form = {**MILESTONE_FORM, "csrf_token": csrf_token("another-browser")}
    async with httpx.AsyncClient(
        base_url=world.urls["engagements"], headers=world.headers("provider-A-person")
    ) as browser:
        refused = await browser.post(f"/engagements/{world.ids['engagement_A']}/milestones", data=form)
    assert refused.status_code == 403 and "This form has expired" in refused.text


@pytest.mark.parametrize("service", ["intake", "routing", "engagements", "notify"])
async def test_health_metrics_and_the_api_documents_need_no_key(world, service):
    async with httpx.AsyncClient(base_url=world.urls[service]) as client:
        answers = [await client.get(path) for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json")]
    assert [a.status_code for a in answers] == [200] * 4
