"""The routing policy, as a specification: which tier a request goes to, which provider takes it, and when staff
must decide instead. Pure: no I/O beyond reading the shipped policy and registry, and tmp_path."""

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.routing.domain.decision import Decision, decide
from services.routing.domain.policy import Policy, PolicyError, load_policy
from services.routing.domain.profiles import AgencyProfile, agency_profiles
from services.routing.domain.providers import ProviderLoad, ProviderRecord, load_providers
from services.routing.domain.queue import leaves_on_withdrawal, queue_priority
from services.routing.settings import POLICY_FILE, PROVIDERS_FILE
from shared.contract.requests import Agency, RequestForAssistance
from shared.contract.vocabulary import AgencyType, CriticalAssistance, SystemicIssue, Tier, TopicArea, Urgency

TODAY = date(2026, 6, 1)
POLICY = load_policy(POLICY_FILE)
PROVIDERS = load_providers(PROVIDERS_FILE)
BY_ID = {record.provider_id: record for record in PROVIDERS}

PROPERTY = settings(max_examples=200, deadline=None, database=None)  # database=None: no example files written


def an_agency(**fields: Any) -> dict[str, Any]:
    base = {"name": "Springfield Police Department", "type": "local", "state": "IL"}
    return base | {"sworn_officers": 120, "population_served": 115_000} | fields


def an_incident(days_ago: int = 10, **fields: Any) -> dict[str, Any]:
    base = {"summary": "Officer-involved shooting.", "occurred_on": TODAY - timedelta(days=days_ago)}
    return base | {"high_profile": True, "assistance": ["after_action_review"]} | fields


def systemic_concerns(**fields: Any) -> dict[str, Any]:
    base = {"issues": ["community_trust"], "description": "Complaints about stops have grown for years."}
    return base | {"long_term_assistance_wanted": True, "commitment_to_implement": True} | fields


def a_request(
    *,
    topics: list[str] | None = None,
    agency: dict[str, Any] | None = None,
    incident: dict[str, Any] | None = None,
    concerns: dict[str, Any] | None = None,
    urgency: str = "routine",
) -> RequestForAssistance:
    return RequestForAssistance.model_validate(
        {
            "agency": agency or an_agency(),
            "contact": {"name": "Jordan Lee", "title": "Chief", "email": "jlee@example.gov", "phone": "217-555-0100"},
            "assistance": {"topic_areas": ["de_escalation"] if topics is None else topics, "description": "Help."},
            "incident": incident,
            "systemic_concerns": concerns,
            "urgency": urgency,
        }
    )


def idle(records: list[ProviderRecord] = PROVIDERS) -> list[ProviderLoad]:
    return [ProviderLoad(record, active=0, assigned_total=0) for record in records]


def with_policy(**rules: dict[str, Any]) -> Policy:
    """The shipped policy with some rule sections changed."""
    data = POLICY.model_dump()
    for section, change in rules.items():
        data["rules"][section] |= change
    return Policy.model_validate(data)


# --- the shipped data ---------------------------------------------------------------------------------------


def test_shipped_policy_orders_and_weights_every_tier() -> None:
    assert POLICY.version
    assert sorted(POLICY.rules.precedence) == sorted(Tier)
    assert set(POLICY.scoring) == set(Tier)


def test_shipped_registry_holds_the_cri_tac_partners_and_a_provider_for_each_other_tier() -> None:
    cri_tac = {record.provider_id for record in PROVIDERS if record.tier == Tier.CRI_TAC}
    partners = {"iacp", "fop", "fbinaa", "iaclea", "iadlest", "mcca", "nawlee", "noble", "ntoa", "mcsa", "nsa"}
    assert cri_tac == partners
    assert BY_ID["national-policing-institute"].tier == Tier.CRITICAL_RESPONSE
    assert BY_ID["oa-provider"].tier == Tier.ORGANIZATIONAL_ASSESSMENT
    assert all(record.active_on(TODAY) and 5 <= record.capacity <= 40 for record in PROVIDERS)


def test_partners_are_dated_records() -> None:
    assert not BY_ID["mcsa"].active_on(date(2019, 12, 31))  # joined in 2020
    assert BY_ID["mcsa"].active_on(date(2020, 1, 1))
    assert not BY_ID["national-policing-institute"].active_on(date(2021, 6, 1))


def test_a_provider_is_referred_to_by_id_name_and_mailbox() -> None:
    ref = BY_ID["iacp"].ref()
    assert (ref.provider_id, ref.name, ref.contact_email) == (
        "iacp",
        "International Association of Chiefs of Police",
        "cri-tac@iacp.example.org",
    )


# --- which tier ---------------------------------------------------------------------------------------------


def test_recent_high_profile_incident_asking_for_an_after_action_review_goes_to_critical_response() -> None:
    decision = decide(a_request(topics=[], incident=an_incident()), idle(), POLICY, TODAY)
    assert (decision.outcome, decision.tier) == ("routed", Tier.CRITICAL_RESPONSE)
    assert decision.provider == BY_ID["national-policing-institute"]
    assert decision.rules_fired == [
        "critical_response.recent_event",
        "critical_response.high_profile",
        'text.officer_involved_shooting: "officer-involved shooting" in the incident summary',  # weight, recorded
    ]
    assert decision.policy_version == POLICY.version


def test_critical_response_takes_precedence_over_training_topics_in_the_same_request() -> None:
    request = a_request(topics=["use_of_force"], incident=an_incident(major_incident=True))
    decision = decide(request, idle(), POLICY, TODAY)
    assert decision.tier == Tier.CRITICAL_RESPONSE
    assert "precedence.critical_response" in decision.rules_fired
    assert decision.candidate_tiers == [Tier.CRITICAL_RESPONSE, Tier.CRI_TAC]


def test_incident_older_than_the_recent_window_goes_to_staff() -> None:
    decision = decide(a_request(topics=[], incident=an_incident(days_ago=400)), idle(), POLICY, TODAY)
    assert decision.outcome == "needs_review"
    assert decision.review_reasons == [
        "the incident asks for after_action_review but is 400 days old, beyond the 180-day window"
    ]
    assert decision.candidate_tiers == [Tier.CRITICAL_RESPONSE]


def test_unflagged_incident_asking_for_help_goes_to_staff_to_judge_whether_it_is_sensitive() -> None:
    incident = an_incident(high_profile=False, assistance=["peer_exchange"])
    decision = decide(a_request(topics=["de_escalation"], incident=incident), idle(), POLICY, TODAY)
    assert decision.outcome == "needs_review"
    assert decision.review_reasons == [
        "the incident asks for peer_exchange but is not flagged high_profile or major_incident: "
        "staff to judge whether it is a sensitive issue"
    ]


def test_future_dated_incident_goes_to_staff() -> None:
    decision = decide(a_request(incident=an_incident(days_ago=-3)), idle(), POLICY, TODAY)
    assert decision.review_reasons == ["the incident asks for after_action_review but is future-dated: 2026-06-04"]


def test_systemic_issues_with_long_term_help_and_commitment_go_to_organizational_assessment() -> None:
    decision = decide(a_request(topics=[], concerns=systemic_concerns()), idle(), POLICY, TODAY)
    assert (decision.outcome, decision.tier) == ("routed", Tier.ORGANIZATIONAL_ASSESSMENT)
    assert decision.provider == BY_ID["oa-provider"]
    assert decision.rules_fired == ["organizational_assessment.systemic_issues"]


def test_assessment_without_leadership_commitment_is_routed_with_a_note_to_confirm_it() -> None:
    request = a_request(topics=[], concerns=systemic_concerns(commitment_to_implement=False))
    decision = decide(request, idle(), POLICY, TODAY)
    assert decision.tier == Tier.ORGANIZATIONAL_ASSESSMENT
    assert "organizational_assessment.commitment_to_confirm" in decision.rules_fired


def test_a_policy_can_send_assessments_without_commitment_to_staff_instead() -> None:
    strict = with_policy(organizational_assessment={"missing_commitment": "review"})
    request = a_request(topics=[], concerns=systemic_concerns(commitment_to_implement=False))
    decision = decide(request, idle(), strict, TODAY)
    assert decision.outcome == "needs_review"
    assert decision.review_reasons == ["an assessment is wanted but leadership has not committed to implement it"]


def test_assessment_outranks_training_topics_in_the_same_request() -> None:
    decision = decide(a_request(topics=["procedural_justice"], concerns=systemic_concerns()), idle(), POLICY, TODAY)
    assert decision.tier == Tier.ORGANIZATIONAL_ASSESSMENT
    assert "precedence.organizational_assessment" in decision.rules_fired


def test_catalog_topics_alone_go_to_cri_tac() -> None:
    decision = decide(a_request(topics=["de_escalation"]), idle(), POLICY, TODAY)
    assert (decision.outcome, decision.tier) == ("routed", Tier.CRI_TAC)
    assert decision.rules_fired == ["cri_tac.topic_areas"]


def test_systemic_concerns_without_long_term_help_leave_a_training_request_with_cri_tac() -> None:
    request = a_request(topics=["de_escalation"], concerns=systemic_concerns(long_term_assistance_wanted=False))
    assert decide(request, idle(), POLICY, TODAY).tier == Tier.CRI_TAC


def test_strong_critical_response_and_assessment_signals_together_go_to_staff() -> None:
    request = a_request(topics=[], incident=an_incident(), concerns=systemic_concerns())
    decision = decide(request, idle(), POLICY, TODAY)
    assert (decision.outcome, decision.tier, decision.provider) == ("needs_review", None, None)
    assert decision.review_reasons == [
        "conflicting signals: both critical_response and organizational_assessment apply"
    ]
    assert decision.candidate_tiers == [Tier.CRITICAL_RESPONSE, Tier.ORGANIZATIONAL_ASSESSMENT]


def test_request_with_no_topics_incident_or_concerns_is_too_thin_and_staff_hear_why() -> None:
    decision = decide(a_request(topics=[]), idle(), POLICY, TODAY)
    assert decision.outcome == "needs_review"
    assert decision.review_reasons == [
        "too thin to route: no tier's rule applies",
        "no incident described",
        "no systemic concerns described",
        "0 topic areas requested; CRI-TAC needs at least 1",
    ]
    assert decision.candidate_tiers == []


def test_systemic_concerns_without_long_term_help_and_nothing_else_are_too_thin() -> None:
    request = a_request(topics=[], concerns=systemic_concerns(long_term_assistance_wanted=False))
    decision = decide(request, idle(), POLICY, TODAY)
    assert decision.outcome == "needs_review"
    assert "systemic concerns are described but long-term assistance is not wanted" in decision.review_reasons


# --- agency profiles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agency", "profiles"),
    [
        (an_agency(type="campus", sworn_officers=40), {"campus", "small_agency"}),
        (an_agency(type="tribal", sworn_officers=60), {"tribal"}),
        (an_agency(sheriff_office=True, sworn_officers=1_200), {"sheriff", "large_county"}),
        (an_agency(sheriff_office=True, sworn_officers=18), {"sheriff", "small_agency"}),
        (an_agency(population_served=600_000, sworn_officers=400), {"large_city"}),
        (an_agency(population_served=90_000, sworn_officers=650), {"large_city"}),
        (an_agency(population_served=115_000, sworn_officers=120), set()),
        (an_agency(type="state", sworn_officers=900), {"state_agency"}),
        (an_agency(type="territorial", sworn_officers=12), {"small_agency"}),
    ],
    ids=[
        "campus",
        "tribal",
        "large-county-sheriff",
        "small-sheriff",
        "city-by-population",
        "city-by-sworn",
        "mid-size-city",
        "state",
        "small-territorial",
    ],
)
def test_agency_profiles_follow_type_and_size(agency: dict[str, Any], profiles: set[str]) -> None:
    assert agency_profiles(Agency.model_validate(agency), POLICY) == {AgencyProfile(p) for p in profiles}


# --- which provider -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agency", "topics", "provider_id"),
    [
        (an_agency(type="campus", sworn_officers=40), ["campus_safety", "active_shooter_response"], "iaclea"),
        (
            an_agency(sheriff_office=True, sworn_officers=1_200, population_served=1_500_000),
            ["jail_operations", "mental_health_response"],
            "mcsa",
        ),
        (an_agency(sheriff_office=True, sworn_officers=18), ["rural_policing", "opioids_and_substance_use"], "nsa"),
        (an_agency(sworn_officers=2_500, population_served=1_200_000), ["violent_crime_reduction"], "mcca"),
        (an_agency(type="state", sworn_officers=900), ["training_standards", "field_training"], "iadlest"),
        (an_agency(type="tribal", sworn_officers=20), ["missing_and_murdered_indigenous_persons"], "iacp"),
    ],
    ids=["campus", "large-county-sheriff", "small-sheriff", "large-city", "state-training", "tribal"],
)
def test_cri_tac_provider_is_chosen_by_expertise_and_agency_profile(
    agency: dict[str, Any], topics: list[str], provider_id: str
) -> None:
    decision = decide(a_request(agency=agency, topics=topics), idle(), POLICY, TODAY)
    assert decision.provider == BY_ID[provider_id]
    assert decision.candidates[0].provider_id == provider_id


def test_a_full_provider_is_passed_over_for_the_next_best_with_room() -> None:
    loads = [ProviderLoad(r, r.capacity if r.provider_id == "iaclea" else 0, assigned_total=0) for r in PROVIDERS]
    # de_escalation: other specialists can take it (a full sole specialist makes it wait: test_routing_judgment.py)
    campus = a_request(agency=an_agency(type="campus", sworn_officers=40), topics=["campus_safety", "de_escalation"])
    decision = decide(campus, loads, POLICY, TODAY)
    assert decision.outcome == "routed"
    assert decision.provider is not None
    assert decision.provider.provider_id != "iaclea"
    full = next(c for c in decision.candidates if c.provider_id == "iaclea")
    assert not full.has_room
    assert decision.candidates[-1] == full  # listed, last, for staff to see


def test_request_is_queued_with_its_tier_when_every_provider_of_the_tier_is_full() -> None:
    loads = [ProviderLoad(r, active=r.capacity, assigned_total=3) for r in PROVIDERS]
    decision = decide(a_request(topics=[], incident=an_incident()), loads, POLICY, TODAY)
    assert (decision.outcome, decision.tier, decision.provider) == ("queued", Tier.CRITICAL_RESPONSE, None)
    assert decision.rules_fired[-1] == "queue.all_providers_full"


def test_request_is_queued_when_its_tier_has_no_active_provider() -> None:
    only_cri_tac = [r for r in PROVIDERS if r.tier == Tier.CRI_TAC]
    decision = decide(a_request(topics=[], concerns=systemic_concerns()), idle(only_cri_tac), POLICY, TODAY)
    assert (decision.outcome, decision.tier, decision.candidates) == ("queued", Tier.ORGANIZATIONAL_ASSESSMENT, [])
    assert decision.rules_fired[-1] == "queue.no_active_provider"


def test_a_provider_whose_partnership_ended_is_never_a_candidate() -> None:
    ended = BY_ID["iaclea"].model_copy(update={"valid_to": TODAY - timedelta(days=1)})
    records = [ended if r.provider_id == "iaclea" else r for r in PROVIDERS]
    campus = a_request(agency=an_agency(type="campus", sworn_officers=40), topics=["campus_safety", "de_escalation"])
    decision = decide(campus, idle(records), POLICY, TODAY)
    assert decision.provider is not None
    assert decision.provider.provider_id != "iaclea"
    assert "iaclea" not in {c.provider_id for c in decision.candidates}


def test_a_provider_that_had_not_yet_joined_is_not_a_candidate() -> None:
    large_county = an_agency(sheriff_office=True, sworn_officers=1_200)
    decision = decide(a_request(agency=large_county, topics=["jail_operations"]), idle(), POLICY, date(2019, 6, 1))
    assert decision.provider == BY_ID["nsa"]  # MCSA joined in 2020


TWIN_A = ProviderRecord(
    provider_id="twin-a",
    name="Twin A",
    tier=Tier.CRI_TAC,
    expertise=[TopicArea.DE_ESCALATION],
    capacity=10,
    valid_from=date(2017, 1, 1),
)
TWIN_B = TWIN_A.model_copy(update={"provider_id": "twin-b", "name": "Twin B"})


@pytest.mark.parametrize(
    ("a_counts", "b_counts", "chosen"),
    [((3, 0), (2, 9), "twin-b"), ((2, 10), (2, 4), "twin-b"), ((2, 4), (2, 4), "twin-a")],
    ids=["fewest-active", "then-fewest-assigned", "then-provider-id"],
)
def test_equal_providers_take_turns_fairly(a_counts: tuple[int, int], b_counts: tuple[int, int], chosen: str) -> None:
    loads = [ProviderLoad(TWIN_B, *b_counts), ProviderLoad(TWIN_A, *a_counts)]
    decision = decide(a_request(topics=["de_escalation"]), loads, POLICY, TODAY)
    assert decision.provider is not None
    assert decision.provider.provider_id == chosen


AGO = {days: datetime.combine(TODAY - timedelta(days=days), time(), UTC) for days in (1, 7, 30)}


@pytest.mark.parametrize(
    ("last_a", "last_b", "chosen"),
    [(AGO[1], AGO[7], "twin-b"), (AGO[7], AGO[1], "twin-a"), (None, AGO[30], "twin-a"), (AGO[30], None, "twin-b")],
    ids=["b-waited-longer", "a-waited-longer", "a-never-assigned", "b-never-assigned"],
)
def test_equals_take_turns_by_who_was_assigned_least_recently_not_by_name(last_a, last_b, chosen) -> None:
    loads = [ProviderLoad(TWIN_A, 2, 9, last_a), ProviderLoad(TWIN_B, 2, 3, last_b)]
    decision = decide(a_request(topics=["de_escalation"]), loads, POLICY, TODAY)
    assert decision.provider is not None and decision.provider.provider_id == chosen


def test_negative_load_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="iacp: load counts cannot be negative"):
        ProviderLoad(BY_ID["iacp"], active=-1, assigned_total=0)


def test_urgent_requests_wait_ahead_of_priority_and_routine_ones() -> None:
    waiting = [a_request(urgency=urgency) for urgency in ("routine", "urgent", "priority")]
    assert [r.urgency for r in sorted(waiting, key=queue_priority)] == ["urgent", "priority", "routine"]


def test_a_routed_decision_without_a_provider_cannot_exist() -> None:
    with pytest.raises(ValidationError, match="incomplete 'routed' decision"):
        Decision(
            outcome="routed",
            tier=Tier.CRI_TAC,
            provider=None,
            rules_fired=[],
            candidates=[],
            review_reasons=[],
            candidate_tiers=[Tier.CRI_TAC],
            policy_version=POLICY.version,
        )


# --- refusing bad files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shipped", "edited", "problem"),
    [
        ("recent_days: 180", "recent_days: 0", "rules.critical_response.recent_days: Input should be greater than 0"),
        (
            "precedence: [critical_response, organizational_assessment, cri_tac]",
            "precedence: [critical_response, cri_tac]",
            "rules.precedence: must name every tier exactly once: "
            "cri_tac, critical_response, organizational_assessment",
        ),
        (
            "cri_tac: {expertise: 3, profile: 2, capacity: 1}",
            "cri_tac: {expertise: 3, profile: -2, capacity: 1}",
            "scoring.cri_tac.profile: Input should be greater than or equal to 0",
        ),
        (
            "  organizational_assessment: {expertise: 0, profile: 0, capacity: 1}",
            "",
            "scoring: no weights for organizational_assessment",
        ),
        (
            "- [critical_response, organizational_assessment]",
            "- [cri_tac, cri_tac]",
            "rules.review.conflicting: a tier cannot conflict with itself",
        ),
        (
            "small_agency_below_sworn: 50",
            "small_agency_below_sworn: 800",
            "agency_profiles: small_agency_below_sworn exceeds a large-agency sworn threshold",
        ),
        ("missing_commitment: note", "missing_commitment: maybe", "rules.organizational_assessment.missing_commitment"),
        ('version: "2026.2"', "version: 2026.2", "version: Input should be a valid string"),
    ],
    ids=["window", "precedence", "weight", "tier-weights", "conflict-pair", "thresholds", "enum", "version-type"],
)
def test_invalid_policy_is_refused_naming_file_location_and_problem(
    tmp_path: Path, shipped: str, edited: str, problem: str
) -> None:
    text = POLICY_FILE.read_text()
    assert text.count(shipped) == 1
    (tmp_path / "policy.yaml").write_text(text.replace(shipped, edited))
    with pytest.raises(PolicyError) as refused:
        load_policy(tmp_path / "policy.yaml")
    assert re.match(rf"{re.escape(str(tmp_path / 'policy.yaml'))}:\d+: {re.escape(problem)}", str(refused.value))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('version: "1"\nprecedence: [cri_tac, critical_response\n', ":3:1: expected ',' or ']'"),
        ('version: "1"\nversion: "2"\n', ":2:1: duplicate key 'version'"),
        ("- just a list\n", ": (top level): Input should be a valid dictionary"),
    ],
    ids=["syntax", "duplicate-key", "not-a-mapping"],
)
def test_malformed_policy_yaml_is_refused_with_line_and_column(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "policy.yaml").write_text(text)
    with pytest.raises(PolicyError) as refused:
        load_policy(tmp_path / "policy.yaml")
    assert str(refused.value).startswith(f"{tmp_path / 'policy.yaml'}{problem}")


@pytest.mark.parametrize(
    ("shipped", "edited", "problem"),
    [
        (
            "provider_id: fop",
            "provider_id: iacp",
            "providers.1.provider_id: duplicate provider id 'iacp' (first at providers.0)",
        ),
        ("capacity: 40", "capacity: -1", "providers.0.capacity: Input should be greater than or equal to 0"),
        ("[tactical_operations,", "[swat,", "providers.8.expertise.0: Input should be"),
        (
            "valid_from: 2020-01-01",
            "valid_from: 2020-01-01\n    valid_to: 2019-12-31",
            "providers.9: valid_to 2019-12-31 is before valid_from 2020-01-01",
        ),
    ],
    ids=["duplicate-id", "capacity", "topic", "dates"],
)
def test_invalid_provider_registry_is_refused_naming_file_location_and_problem(
    tmp_path: Path, shipped: str, edited: str, problem: str
) -> None:
    text = PROVIDERS_FILE.read_text()
    assert text.count(shipped) == 1
    (tmp_path / "providers.yaml").write_text(text.replace(shipped, edited))
    with pytest.raises(PolicyError) as refused:
        load_providers(tmp_path / "providers.yaml")
    assert re.match(rf"{re.escape(str(tmp_path / 'providers.yaml'))}:\d+: {re.escape(problem)}", str(refused.value))


# --- properties over any valid request ----------------------------------------------------------------------

agencies = st.fixed_dictionaries(
    {
        "type": st.sampled_from(AgencyType),
        "sheriff_office": st.booleans(),
        "sworn_officers": st.integers(0, 5_000),
        "population_served": st.integers(0, 5_000_000),
    }
).map(lambda fields: an_agency(**fields))
incidents = st.fixed_dictionaries(
    {
        "days_ago": st.integers(-30, 800),
        "high_profile": st.booleans(),
        "major_incident": st.booleans(),
        "confidential": st.booleans(),
        "assistance": st.lists(st.sampled_from(CriticalAssistance), max_size=6),
    }
).map(lambda fields: an_incident(**fields))
concerns = st.fixed_dictionaries(
    {
        "issues": st.lists(st.sampled_from(SystemicIssue), min_size=1, max_size=7),
        "long_term_assistance_wanted": st.booleans(),
        "commitment_to_implement": st.booleans(),
    }
).map(lambda fields: systemic_concerns(**fields))
requests = st.builds(
    a_request,
    topics=st.lists(st.sampled_from(TopicArea), max_size=10),
    agency=agencies,
    incident=st.none() | incidents,
    concerns=st.none() | concerns,
    urgency=st.sampled_from(Urgency),
)


@st.composite
def made_up_providers(draw: st.DrawFn) -> list[ProviderLoad]:
    """A handful of providers of any tier, some expired or not yet started, some full, some without capacity."""
    loads = []
    for provider_id in draw(st.lists(st.sampled_from([f"p{n}" for n in range(8)]), unique=True, max_size=8)):
        valid_from = TODAY - timedelta(days=draw(st.integers(-60, 3_000)))
        lasts = draw(st.none() | st.integers(0, 3_000))
        record = ProviderRecord(
            provider_id=provider_id,
            name=provider_id.upper(),
            tier=draw(st.sampled_from(Tier)),
            expertise=draw(st.lists(st.sampled_from(TopicArea), min_size=1, max_size=8, unique=True)),
            serves_best=draw(st.lists(st.sampled_from(AgencyProfile), max_size=4, unique=True)),
            capacity=draw(st.integers(0, 5)),
            valid_from=valid_from,
            valid_to=None if lasts is None else valid_from + timedelta(days=lasts),
        )
        loads.append(ProviderLoad(record, draw(st.integers(0, record.capacity + 2)), draw(st.integers(0, 50))))
    return loads


shipped_providers = st.lists(
    st.tuples(st.integers(0, 45), st.integers(0, 500)), min_size=len(PROVIDERS), max_size=len(PROVIDERS)
).map(lambda counts: [ProviderLoad(r, *count) for r, count in zip(PROVIDERS, counts, strict=True)])
provider_loads = made_up_providers() | shipped_providers


@PROPERTY
@given(request=requests, loads=provider_loads)
def test_every_request_gets_one_complete_outcome(request: RequestForAssistance, loads: list[ProviderLoad]) -> None:
    decision = decide(request, loads, POLICY, TODAY)
    topics = set(request.assistance.topic_areas)
    eligible = {  # a provider without expertise in any topic asked for is no candidate where generalists are not
        load.record.provider_id: load
        for load in loads
        if load.record.tier == decision.tier
        and load.record.active_on(TODAY)
        and (
            decision.tier in POLICY.provider_choice.generalists_allowed
            or not topics
            or topics & set(load.record.expertise)
        )
    }
    if decision.outcome == "needs_review":
        assert decision.tier is None
        assert decision.provider is None
        assert decision.review_reasons
        assert decision.candidates == []
        return
    assert decision.tier is not None
    assert decision.review_reasons == []
    assert decision.tier == decision.candidate_tiers[0]
    assert {c.provider_id for c in decision.candidates} == set(eligible)
    if decision.outcome == "routed":
        assert decision.provider is not None
        assert decision.provider.tier == decision.tier
        assert decision.provider.provider_id in eligible
    else:
        assert decision.provider is None
        assert all(load.active >= load.record.capacity for load in eligible.values())


@PROPERTY
@given(request=requests, loads=provider_loads, data=st.data())
def test_same_inputs_give_the_same_decision_whatever_the_provider_order(
    request: RequestForAssistance, loads: list[ProviderLoad], data: st.DataObject
) -> None:
    reordered = data.draw(st.permutations(loads))
    assert decide(request, loads, POLICY, TODAY) == decide(request, reordered, POLICY, TODAY)


@PROPERTY
@given(request=requests, loads=made_up_providers())
def test_routing_again_and_again_never_exceeds_any_capacity(
    request: RequestForAssistance, loads: list[ProviderLoad]
) -> None:
    """Assign the same request until it queues, counting each assignment: no provider goes past its capacity."""
    active = {load.record.provider_id: load.active for load in loads}
    for _ in range(sum(load.record.capacity for load in loads) + 1):
        current = [ProviderLoad(load.record, active[load.record.provider_id], load.assigned_total) for load in loads]
        decision = decide(request, current, POLICY, TODAY)
        if decision.provider is None:
            break
        chosen = decision.provider
        assert active[chosen.provider_id] < chosen.capacity
        active[chosen.provider_id] += 1
    assert decision.outcome != "routed"


PROGRAM_WORDS = [phrase for term in POLICY.lexicon.terms for phrase in term.phrases] + ["no protests", "training"]


@PROPERTY
@given(request=requests, loads=provider_loads, words=st.lists(st.sampled_from(PROGRAM_WORDS), min_size=1, max_size=4))
def test_what_the_agency_wrote_never_routes_a_request_elsewhere_without_staff(
    request: RequestForAssistance, loads: list[ProviderLoad], words: list[str]
) -> None:
    """Read with the lexicon, a request is decided as without it, or goes to staff: words alone never move it."""
    written = request.model_copy(
        update={"assistance": request.assistance.model_copy(update={"description": ". ".join(words)})}
    )
    read = decide(written, loads, POLICY, TODAY)
    unread = decide(written, loads, POLICY.model_copy(update={"lexicon": None}), TODAY)
    if read.outcome != "needs_review":
        assert (read.outcome, read.tier, read.provider) == (unread.outcome, unread.tier, unread.provider)
        assert [rule for rule in read.rules_fired if not rule.startswith("text.")] == unread.rules_fired


@pytest.mark.parametrize(
    ("outcome", "leaves"), [("queued", True), ("needs_review", True), ("routed", False), ("withdrawn", False)]
)
def test_a_withdrawal_takes_out_only_a_request_still_waiting_which_holds_no_place(outcome, leaves):
    assert leaves_on_withdrawal(outcome) is leaves
