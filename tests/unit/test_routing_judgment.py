"""Routing's judgment, as a specification: what the agency wrote, what it asked before, who may take its request,
how long it may wait, and what a policy change would do. Pure: the shipped policy and registry, no I/O."""

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.routing.domain.decision import decide
from services.routing.domain.history import AgencyHistory, PastDecision, PastEngagement, agency_key
from services.routing.domain.policy import Policy, load_policy
from services.routing.domain.providers import ProviderLoad, load_providers
from services.routing.domain.queue import waited_too_long
from services.routing.domain.scoring import uncovered_topics
from services.routing.domain.what_if import Outcome, PastRequest, replay
from services.routing.settings import POLICY_FILE, PROVIDERS_FILE
from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Tier, TopicArea
from tests.support import sample_request

TODAY = date(2026, 6, 1)
POLICY = load_policy(POLICY_FILE)
PROVIDERS = load_providers(PROVIDERS_FILE)
IDLE = [ProviderLoad(record, 0, 0) for record in PROVIDERS]


def at(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC)


def request(**overrides: Any) -> RequestForAssistance:
    return RequestForAssistance.model_validate(sample_request(**overrides))


def changed(policy: Policy = POLICY, **sections: dict[str, Any]) -> Policy:
    """The shipped policy (lexicon included) with some top-level sections changed."""
    data = policy.model_dump()
    for section, change in sections.items():
        data[section] |= change
    return Policy.model_validate(data | {"version": "candidate"})


# --- what the agency wrote: the issue's two requests -------------------------------------------------------

IN_CUSTODY_DEATH = request(
    assistance__topic_areas=[],
    assistance__description="We ask for an independent after-action review of this death and a full assessment "
    "of our policies.",
    incident={
        "summary": "A man died in custody at our jail after a struggle with officers.",
        "occurred_on": str(TODAY - timedelta(days=40)),
        "high_profile": True,
    },
    systemic_concerns={
        "issues": ["community_trust", "accountability_and_discipline"],
        "description": "Complaints about force in the jail have grown for years.",
        "long_term_assistance_wanted": True,
        "commitment_to_implement": True,
    },
)

SHOOTING_AND_PROTESTS = request(
    assistance__topic_areas=["use_of_force", "mass_demonstrations"],
    assistance__description="Help our officers with use of force and with crowds.",
    incident={
        "summary": "An officer-involved shooting of a 19-year-old during a traffic stop; protests followed for "
        "three nights.",
        "occurred_on": str(TODAY - timedelta(days=6)),
        "high_profile": True,
    },
)


@pytest.mark.parametrize(
    ("request_", "without_words", "reason", "rules", "tiers"),
    [
        (
            IN_CUSTODY_DEATH,
            Tier.ORGANIZATIONAL_ASSESSMENT,
            '"after-action review" in the description, "die in custody" in the incident summary',
            [
                "organizational_assessment.systemic_issues",
                'text.after_action_review: "after-action review" in the description',
                'text.department_assessment: "full assessment" in the description',
                'text.in_custody_death: "die in custody" in the incident summary',
            ],
            [Tier.CRITICAL_RESPONSE, Tier.ORGANIZATIONAL_ASSESSMENT],
        ),
        (
            SHOOTING_AND_PROTESTS,
            Tier.CRI_TAC,
            '"officer-involved shooting" in the incident summary',
            [
                "cri_tac.topic_areas",
                'text.officer_involved_shooting: "officer-involved shooting" in the incident summary',
                'text.protests: "protest" in the incident summary',
            ],
            [Tier.CRITICAL_RESPONSE, Tier.CRI_TAC],
        ),
    ],
    ids=["in-custody-death-straight-to-assessment", "shooting-and-protests-silently-to-training"],
)
def test_the_issues_two_requests_go_to_staff_with_the_words_named(request_, without_words, reason, rules, tiers):
    """The request decided the old way (without reading its words), then as now."""
    unread = decide(request_, IDLE, POLICY.model_copy(update={"lexicon": None}), TODAY)
    assert (unread.outcome, unread.tier) == ("routed", without_words)

    decision = decide(request_, IDLE, POLICY, TODAY)
    assert decision.outcome == "needs_review"
    assert decision.review_reasons == [
        f"the text points to critical_response ({reason}) but the agency asked for no critical_response help: "
        "staff to judge"
    ]
    assert decision.rules_fired == rules
    assert decision.candidate_tiers == tiers


def test_words_of_a_tier_the_agency_asked_for_add_weight_without_changing_the_decision() -> None:
    asked = request(
        incident={
            "summary": "An officer-involved shooting last month.",
            "occurred_on": str(TODAY - timedelta(days=30)),
            "high_profile": True,
            "assistance": ["after_action_review"],
        }
    )
    decision = decide(asked, IDLE, POLICY, TODAY)
    assert (decision.outcome, decision.tier) == ("routed", Tier.CRITICAL_RESPONSE)
    assert 'text.officer_involved_shooting: "officer-involved shooting" in the incident summary' in decision.rules_fired


def test_a_term_that_only_adds_weight_raises_no_review() -> None:
    training = request(
        assistance__topic_areas=["mass_demonstrations"],
        assistance__description="Crowd management training before the summer protests.",
    )
    decision = decide(training, IDLE, POLICY, TODAY)
    assert (decision.outcome, decision.tier) == ("routed", Tier.CRI_TAC)
    assert decision.rules_fired == ["cri_tac.topic_areas", 'text.protests: "protest" in the description']


def test_a_policy_that_lets_no_tier_be_raised_by_words_only_records_them() -> None:
    quiet = changed(text_signals={"review_unasked": []})
    decision = decide(SHOOTING_AND_PROTESTS, IDLE, quiet, TODAY)
    assert (decision.outcome, decision.tier) == ("routed", Tier.CRI_TAC)
    assert 'text.officer_involved_shooting: "officer-involved shooting" in the incident summary' in decision.rules_fired


def test_a_negated_phrase_raises_nothing() -> None:
    calm = request(incident=None, assistance__description="There was no officer-involved shooting; we want training.")
    assert decide(calm, IDLE, POLICY, TODAY).rules_fired == ["cri_tac.topic_areas"]


# --- the agency's history -----------------------------------------------------------------------------------

CRITICAL = request(
    assistance__topic_areas=[],
    incident={
        "summary": "A courthouse attack.",
        "occurred_on": str(TODAY - timedelta(days=5)),
        "major_incident": True,
        "assistance": ["targeted_assistance"],
    },
)


def had(*decisions: tuple[int, str, str | None], engagements: tuple[PastEngagement, ...] = ()) -> AgencyHistory:
    """A history of earlier decisions (days ago, outcome, tier), each about a request of its own."""
    return AgencyHistory(tuple(PastDecision(uuid4(), at(d), o, t) for d, o, t in decisions), engagements)


def test_a_second_critical_response_within_two_years_goes_to_staff_naming_the_first() -> None:
    history = had((300, "routed", "critical_response"))
    decision = decide(CRITICAL, IDLE, POLICY, TODAY, history)
    assert decision.outcome == "needs_review"
    day = TODAY - timedelta(days=300)
    assert decision.review_reasons == [
        f"the agency had a Critical Response on {day}, within 730 days: a second one may call for an "
        "organizational_assessment; staff to judge"
    ]
    assert f"history.repeat_critical_response: the agency had a Critical Response on {day}" in decision.rules_fired
    # Older than the window, or only reviewed, it is no repeat.
    for past in [had((800, "routed", "critical_response")), had((30, "needs_review", None))]:
        assert decide(CRITICAL, IDLE, POLICY, TODAY, past).tier == Tier.CRITICAL_RESPONSE


def test_a_repeat_the_policy_only_notes_is_routed_with_the_fact_in_the_record() -> None:
    noting = changed(agency_history={"repeat_critical_response": {"within_days": 730, "action": "note"}})
    engagement = PastEngagement(uuid4(), uuid4(), "critical_response", opened_at=at(100))
    decision = decide(CRITICAL, IDLE, noting, TODAY, had(engagements=(engagement,)))
    assert (decision.outcome, decision.tier) == ("routed", Tier.CRITICAL_RESPONSE)
    day = TODAY - timedelta(days=100)
    assert f"history.repeat_critical_response: the agency had a Critical Response on {day}" in decision.rules_fired


def test_training_asked_during_an_open_assessment_goes_to_staff_and_after_it_closed_to_cri_tac() -> None:
    assessed = uuid4()
    decided = PastDecision(assessed, at(200), "routed", "organizational_assessment")
    open_ = AgencyHistory((decided,), (PastEngagement(uuid4(), assessed, "organizational_assessment", at(190)),))
    decision = decide(request(), IDLE, POLICY, TODAY, open_)
    assert decision.outcome == "needs_review"
    day = (TODAY - timedelta(days=200)).isoformat()
    assert decision.review_reasons == [
        f"the agency's organizational_assessment is under way since {day}: the training may belong to its "
        "recommendations; staff to judge"
    ]
    closed = PastEngagement(uuid4(), assessed, "organizational_assessment", at(190), at(10), "completed")
    assert decide(request(), IDLE, POLICY, TODAY, AgencyHistory((decided,), (closed,))).tier == Tier.CRI_TAC


def test_a_recent_escalation_is_noted_in_the_record() -> None:
    moved = PastEngagement(uuid4(), uuid4(), "cri_tac", at(90), escalated_at=at(20), escalated_to="critical_response")
    decision = decide(request(), IDLE, POLICY, TODAY, had(engagements=(moved,)))
    assert decision.outcome == "routed"
    assert (
        f"history.recent_escalation: an engagement of the agency was escalated from cri_tac to critical_response "
        f"on {TODAY - timedelta(days=20)}" in decision.rules_fired
    )


def test_the_history_as_it_stood_knows_nothing_later_and_not_the_request_itself() -> None:
    this, other = uuid4(), uuid4()
    later = PastEngagement(uuid4(), other, "critical_response", at(50), closed_at=at(5), outcome="completed")
    history = AgencyHistory(
        (PastDecision(this, at(40), "routed", "cri_tac"), PastDecision(other, at(60), "routed", "critical_response")),
        (later, PastEngagement(uuid4(), other, "cri_tac", at(2))),
    )
    then = history.as_of(at(30), this)
    assert then.decisions == (history.decisions[1],)
    assert then.engagements == (PastEngagement(later.engagement_id, other, "critical_response", at(50)),)


def test_an_agency_is_recognised_by_its_ori_else_by_its_name_within_its_state() -> None:
    named = request(agency__name="  Springfield   POLICE Department ")
    assert agency_key(named.agency) == "name:IL:springfield police department"
    assert agency_key(request(agency__ori="IL0840000").agency) == "ori:IL0840000"


# --- who may take a request ---------------------------------------------------------------------------------

CAMPUS = request(
    agency__type="campus", agency__sworn_officers=40, assistance__topic_areas=["campus_safety", "school_safety"]
)


def test_a_full_specialist_makes_the_request_wait_rather_than_go_to_a_provider_without_the_expertise() -> None:
    loads = [ProviderLoad(r, r.capacity if r.provider_id == "iaclea" else 0, 0) for r in PROVIDERS]
    decision = decide(CAMPUS, loads, POLICY, TODAY)
    assert (decision.outcome, decision.tier, decision.provider) == ("queued", Tier.CRI_TAC, None)
    assert decision.rules_fired[-1] == "queue.all_specialists_full"
    assert [c.provider_id for c in decision.candidates] == ["iaclea"]


def test_a_policy_may_let_generalists_take_a_tier_explicitly() -> None:
    open_tier = changed(provider_choice={"generalists_allowed": list(Tier)})
    loads = [ProviderLoad(r, r.capacity if r.provider_id == "iaclea" else 0, 0) for r in PROVIDERS]
    decision = decide(CAMPUS, loads, open_tier, TODAY)
    assert decision.outcome == "routed" and decision.provider and decision.provider.provider_id != "iaclea"


def test_topics_no_provider_covers_go_to_staff_with_that_reason_and_are_warned_about() -> None:
    victims = request(assistance__topic_areas=["victim_services"])
    decision = decide(victims, IDLE, POLICY, TODAY)
    assert decision.outcome == "needs_review"
    assert decision.review_reasons == ["no cri_tac provider covers the topics asked for: victim_services"]
    assert decision.rules_fired == ["cri_tac.topic_areas", "choice.no_specialist"]
    assert uncovered_topics(POLICY, PROVIDERS, TODAY) == {Tier.CRI_TAC: [TopicArea.VICTIM_SERVICES]}


def test_a_request_waiting_beyond_the_maximum_goes_to_staff() -> None:
    decision = waited_too_long(Tier.CRI_TAC, POLICY)
    assert decision.outcome == "needs_review"
    assert decision.review_reasons == [
        "waited for a place with a cri_tac provider beyond the 30-day maximum: staff to place it"
    ]
    assert decision.rules_fired == ["queue.max_wait: waited more than 30 days for a place"]


# --- replay at the time, and the policy report --------------------------------------------------------------


def past(req: RequestForAssistance, loads: list[ProviderLoad] | None, policy: Policy = POLICY) -> PastRequest:
    decision = decide(req, loads if loads is not None else IDLE, policy, TODAY)
    return PastRequest(uuid4(), TODAY, req, Outcome.of(decision), tuple(decision.rules_fired), loads)


def test_replay_judges_each_request_against_the_loads_of_its_time() -> None:
    iaclea_full = [ProviderLoad(r, r.capacity if r.provider_id == "iaclea" else 0, 0) for r in PROVIDERS]
    queued_then = past(CAMPUS, iaclea_full)
    assert queued_then.decided.outcome == "queued"
    report = replay([queued_then], IDLE, POLICY, POLICY)  # today iaclea has room: not what it was decided by
    assert report.changes == [] and report.without_loads == 0
    # Without recorded loads, today's are all there is: the place iaclea has now is put down to the loads.
    unrecorded = replay([replace(queued_then, loads=None)], IDLE, POLICY, POLICY)
    [change] = unrecorded.changes
    assert (change.after.provider_id, change.cause, unrecorded.without_loads) == ("iaclea", "loads", 1)


def test_the_report_counts_changes_by_tier_provider_and_rule_and_gives_each_policys_shares() -> None:
    old = changed(text_signals={"review_unasked": []}, provider_choice={"generalists_allowed": list(Tier)})
    victims = request(assistance__topic_areas=["victim_services"])
    decided = [past(r, IDLE, old) for r in (SHOOTING_AND_PROTESTS, IN_CUSTODY_DEATH, victims, request())]
    report = replay(decided, IDLE, POLICY, old)
    assert report.by_tier() == {"cri_tac -> needs_review": 2, "organizational_assessment -> needs_review": 1}
    assert report.by_provider() == {"mcca -> -": 1, "oa-provider -> -": 1, f"{decided[2].decided.provider_id} -> -": 1}
    assert report.by_rule() == {  # the same rules fire on the two read otherwise: their words now go to staff
        "+choice.no_specialist": 1,
        "cri_tac.topic_areas": 2,
        "organizational_assessment.systemic_issues": 1,
        "text.after_action_review": 1,
        "text.department_assessment": 1,
        "text.in_custody_death": 1,
        "text.officer_involved_shooting": 1,
        "text.protests": 1,
    }
    assert report.caused_by_policy() == 3
    assert report.baseline.as_json() == {
        "decided": 4,
        "per_tier": {"cri_tac": 0.75, "organizational_assessment": 0.25},
        "per_provider": {
            provider: share / 4 for provider, share in Counter(d.decided.provider_id for d in decided).items()
        },
        "review_rate": 0.0,
        "queue_rate": 0.0,
    }
    assert report.candidate.as_json()["review_rate"] == 0.75
    text = report.as_text()
    assert "  review rate" in text and "Changes by tier:\n  cri_tac -> needs_review: 2" in text
