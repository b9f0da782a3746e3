"""The engagement's page as each reader sees it (pages.engagement_view through templates/engagement.html, no
server): the confidentiality rule holds on the page itself, the buttons are the lifecycle's, escalation is
staff's, and forms carry the version they were shown with; the dashboard's figures link where they can."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.engagements import pages
from services.engagements.app import HERE
from services.engagements.dashboard_api import figures
from services.engagements.routing import ProviderCapacity
from services.engagements.store import AskedRequest, AuditEntry, EngagementRow, Portfolio, WaitingRequest
from shared.contract.events import AgencySummary, ProviderRef
from shared.contract.requests import EXAMPLE_REQUEST, RequestForAssistance
from shared.contract.vocabulary import Tier
from shared.runtime.auth import Role
from shared.runtime.web.pages import Web
from shared.runtime.web.session import Person

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
SECRET = "Shooting during a traffic stop on Elm Street; the family asks for an independent review."
PROVIDER = Person(role=Role.PROVIDER, subject="iacp", email="cri@iacp.example", name="IACP")
STAFF = Person(role=Role.STAFF, subject="a.rivera@cops.example.gov", email="a.rivera@cops.example.gov", name="A")


class NoSessions:
    async def __call__(self, token: str) -> None:
        return None


@pytest.fixture(scope="module")
def web() -> Web:
    built = Web([HERE / "templates"], NoSessions())
    pages.install(built)
    return built


def engagement(tier: Tier, status: str, *, closed: bool = False) -> EngagementRow:
    return EngagementRow(
        engagement_id=uuid4(),
        request_id=uuid4(),
        tier=tier,
        provider=ProviderRef(provider_id="iacp", name="IACP"),
        agency=AgencySummary(name="Springfield PD", type="local", state="IL", sworn_officers=120, population_served=1),
        urgency="routine",
        status="closed" if closed else status,
        milestones=[],
        opened_at=NOW - timedelta(days=2),
        status_since=NOW,
        first_contact_at=None,
        closed_at=NOW if closed else None,
        outcome="withdrawn" if closed else None,
        escalated_from=None,
        correlation_id="c",
        confidential=False,
        overdue=False,
        version=4,
    )


def page(web: Web, row: EngagementRow, reader: Person) -> str:
    asked = RequestForAssistance.model_validate(
        {**EXAMPLE_REQUEST, "incident": {"summary": SECRET, "occurred_on": "2026-11-20", "confidential": True}}
    )
    trail = [AuditEntry(at=NOW, actor="routing", action="opened", detail={"tier": row.tier}, reason=None)]
    view = pages.engagement_view(
        row, reader, trail, None, AskedRequest(asked.without_contact(), asked.contact), None, NOW
    )
    context = {"changed": False, "refused": None, "done": None, "errors": {}, "form": {}}
    return web.env.get_template("engagement.html").render(
        request=None, person=reader, csrf_token="t", **view, **context
    )


def test_a_cri_tac_provider_page_never_holds_confidential_incident_text(web):
    shown = page(web, engagement(Tier.CRI_TAC, "accepted"), PROVIDER)
    assert SECRET not in shown and "account is confidential" in shown


def test_a_critical_response_provider_and_staff_read_the_incident_on_the_page(web):
    assert SECRET in page(web, engagement(Tier.CRITICAL_RESPONSE, "accepted"), PROVIDER)
    assert SECRET in page(web, engagement(Tier.CRI_TAC, "accepted"), STAFF)


def test_the_contact_person_leaves_the_providers_page_once_closed(web):
    email = EXAMPLE_REQUEST["contact"]["email"]
    assert email in page(web, engagement(Tier.CRI_TAC, "accepted"), PROVIDER)
    assert email not in page(web, engagement(Tier.CRI_TAC, "accepted", closed=True), PROVIDER)


def test_the_buttons_are_the_next_milestones_and_forms_carry_the_version_shown(web):
    shown = page(web, engagement(Tier.CRITICAL_RESPONSE, "first_contact"), PROVIDER)
    assert 'id="record-assistance_delivered"' in shown and 'id="record-report_delivered"' not in shown
    assert 'id="assistance_delivered-detail"' in shown  # the kind of assistance is asked with it
    assert 'name="expected_version" value="4"' in shown


def test_only_staff_are_offered_escalation(web):
    row = engagement(Tier.CRI_TAC, "scoping")
    assert 'id="escalate"' not in page(web, row, PROVIDER)
    assert 'id="escalate"' in page(web, row, STAFF)


def test_a_closed_engagement_offers_no_action(web):
    shown = page(web, engagement(Tier.CRI_TAC, "scoping", closed=True), STAFF)
    assert "Next step" not in shown and 'id="close"' not in shown and 'id="escalate"' not in shown


def empty_portfolio(**figures: object) -> Portfolio:
    """A portfolio with nothing in it but `figures`."""
    nothing = dict(
        total=0,
        open_total=0,
        overdue_total=0,
        by_tier_status=[],
        providers=[],
        first_contact=[],
        overdue=[],
        latest=[],
        review_total=0,
        review=[],
        waiting_total=0,
        waiting=[],
        weekly=[],
    )
    return Portfolio(**(nothing | figures))


def test_the_dashboard_links_waiting_requests_to_routings_triage_only_when_it_knows_where_it_is(web):
    waiting = WaitingRequest(request_id=uuid4(), agency="Riverton PD", state="OR", since=NOW, reason="thin request")
    portfolio = empty_portfolio(review_total=1, review=[waiting])
    template = web.env.get_template("dashboard_figures.html")
    linked = template.render(**figures(portfolio, NOW, "http://routing.example"))
    assert f'href="http://routing.example/triage/requests/{waiting.request_id}"' in linked
    assert "/triage/" not in template.render(**figures(portfolio, NOW, None))


def test_the_dashboard_shows_load_against_capacity_and_says_so_when_routing_cannot_be_read(web):
    portfolio = empty_portfolio()
    registry = [
        ProviderCapacity(provider_id="iacp", name="IACP", active=2, capacity=2, partner_today=True),
        ProviderCapacity(provider_id="fop", name="FOP", active=1, capacity=4, partner_today=True),
        ProviderCapacity(provider_id="old", name="Former partner", active=0, capacity=3, partner_today=False),
    ]
    template = web.env.get_template("dashboard_figures.html")
    shown = template.render(**figures(portfolio, NOW, None, registry))
    assert "open 2 of capacity 2</strong>, full" in shown and "open 1 of capacity 4" in shown
    assert shown.index("IACP") < shown.index("FOP") and "Former partner" not in shown
    assert 'width="25.0"' in shown and "capacity-unavailable" not in shown
    unavailable = template.render(**figures(portfolio, NOW, None, None))
    assert 'id="capacity-unavailable"' in unavailable and "Capacity is unavailable" in unavailable
