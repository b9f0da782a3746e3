"""What-if replay, as a specification: past requests decided again under a candidate policy; only differences
are reported, each with its request, what was decided and what would be."""

from datetime import date
from uuid import uuid4

from services.routing.domain.decision import decide
from services.routing.domain.policy import Policy, load_policy
from services.routing.domain.providers import ProviderLoad, load_providers
from services.routing.domain.what_if import Outcome, PastRequest, replay
from services.routing.settings import POLICY_FILE, PROVIDERS_FILE
from shared.contract.requests import RequestForAssistance
from tests.support import sample_request

TODAY = date(2026, 6, 1)
POLICY = load_policy(POLICY_FILE)
LOADS = [ProviderLoad(record, 0, 0) for record in load_providers(PROVIDERS_FILE)]


def with_rule(section: str, **fields) -> Policy:
    data = POLICY.model_dump()
    data["version"] = "candidate"
    data["rules"][section] |= fields
    return Policy.model_validate(data)


def decided_today(**overrides) -> PastRequest:
    request = RequestForAssistance.model_validate(sample_request(**overrides))
    return PastRequest(uuid4(), TODAY, request, Outcome.of(decide(request, LOADS, POLICY, TODAY)))


def test_the_policy_in_force_replayed_over_its_own_decisions_changes_nothing() -> None:
    past = [decided_today(), decided_today(assistance__topic_areas=["campus_safety", "school_safety"])]
    report = replay(past, LOADS, POLICY, POLICY)
    assert report.replayed == 2
    assert report.changes == []


def test_a_stricter_rule_reports_each_request_it_would_send_elsewhere_and_only_those() -> None:
    one_topic = decided_today()
    two_topics = decided_today(assistance__topic_areas=["de_escalation", "use_of_force"])
    report = replay([one_topic, two_topics], LOADS, with_rule("cri_tac", min_topics=2), POLICY)
    assert [change.request_id for change in report.changes] == [one_topic.request_id]
    change = report.changes[0]
    assert change.before.outcome == "routed" and change.before.tier == "cri_tac"
    assert change.after == Outcome("needs_review", None, None)
    assert change.cause == "policy"
    assert report.by_kind() == {"routed -> needs_review (policy)": 1}


def test_a_request_is_replayed_on_the_day_it_was_submitted() -> None:
    submitted_on = date(2025, 2, 1)
    incident = {"summary": "Shooting.", "occurred_on": "2025-01-20", "high_profile": True}
    request = RequestForAssistance.model_validate(
        sample_request(incident=incident | {"assistance": ["after_action_review"]})
    )
    past = PastRequest(uuid4(), submitted_on, request, Outcome.of(decide(request, LOADS, POLICY, submitted_on)))
    assert past.decided.tier == "critical_response"
    # Today the incident is no longer recent; judged on its submission day, nothing changed.
    assert decide(request, LOADS, POLICY, TODAY).outcome == "needs_review"
    assert replay([past], LOADS, POLICY, POLICY).changes == []


def test_a_provider_change_the_policy_in_force_would_make_too_is_put_down_to_the_loads() -> None:
    past = decided_today()
    busy = [
        ProviderLoad(load.record, load.record.capacity if load.record.provider_id == past.decided.provider_id else 0, 0)
        for load in LOADS
    ]
    report = replay([past], busy, POLICY, POLICY)
    [change] = report.changes
    assert change.before.provider_id != change.after.provider_id
    assert change.cause == "loads"
    assert report.caused_by_policy() == 0


def test_the_report_reads_as_text_and_as_json() -> None:
    past = decided_today()
    report = replay([past], LOADS, with_rule("cri_tac", min_topics=2), POLICY)
    text = report.as_text()
    assert "Replayed 1 past decisions under policy candidate: 1 would change, 1 of them because of the policy." in text
    assert f"{past.request_id}  {past.decided}  ->  needs_review  (policy)" in text
    data = report.as_json()
    assert data["changed"] == 1
    assert data["changes"][0]["after"] == {"outcome": "needs_review", "tier": None, "provider_id": None}
