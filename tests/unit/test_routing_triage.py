"""What the staff triage pages say (services/routing/domain/triage.py): codes and rules in words, waits, room."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.routing.domain.providers import ProviderLoad, load_providers
from services.routing.domain.triage import (
    load_in_words,
    provider_choices,
    rule_in_words,
    sentence,
    waited,
    words,
)
from services.routing.settings import PROVIDERS_FILE
from shared.contract.vocabulary import Tier

PROVIDERS = load_providers(PROVIDERS_FILE)
TODAY = date(2026, 6, 1)


def load_of(provider_id: str, active: int) -> ProviderLoad:
    return ProviderLoad(next(r for r in PROVIDERS if r.provider_id == provider_id), active, 0)


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (Tier.CRI_TAC, "CRI-TAC"),
        ("critical_response", "Critical Response"),
        ("needs_review", "In review"),
        ("queued", "Waiting for a place"),
        ("de_escalation", "De escalation"),
        (None, ""),
    ],
)
def test_codes_read_as_words(code, said) -> None:
    assert words(code) == said


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ("critical_response.high_profile", "The incident is flagged high-profile."),
        ("queue.all_providers_full", "Every provider of the tier is full: the request waits for a place."),
        ("precedence.critical_response", "Critical Response comes first by the policy's precedence."),
        ("escalation.cri_tac_to_critical_response", "Escalated by staff from CRI-TAC to Critical Response."),
        ("staff.over_capacity", "Assigned beyond the provider's capacity, on staff's decision."),
    ],
)
def test_the_rules_a_decision_records_read_as_sentences(rule, said) -> None:
    assert rule_in_words(rule) == said


def test_a_rule_the_pages_do_not_know_yet_is_still_shown_by_what_its_id_says() -> None:
    assert rule_in_words("agency_history.repeat_request") == "Agency history: repeat request."
    assert rule_in_words("manual") == "Manual."


@pytest.mark.parametrize(
    ("elapsed", "said"),
    [
        (timedelta(seconds=20), "under a minute"),
        (timedelta(minutes=1, seconds=5), "1 minute"),
        (timedelta(hours=5, minutes=59), "5 hours"),
        (timedelta(days=3, hours=23), "3 days"),
        (timedelta(seconds=-30), "under a minute"),  # clocks of two processes
    ],
)
def test_waits_are_told_in_their_largest_whole_unit(elapsed, said) -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert waited(now - elapsed, now) == said


def test_load_is_told_against_capacity_and_a_full_provider_says_so() -> None:
    assert load_in_words(load_of("fop", 3)) == "3 of 15 engagements (12 free)"
    assert load_in_words(load_of("fop", 15)) == "15 of 15 engagements: full"
    assert load_in_words(load_of("fop", 16)) == "16 of 15 engagements: full"  # assigned beyond, by staff


def test_the_form_offers_todays_partners_by_tier_then_name_with_their_load_and_whether_full() -> None:
    loads = [ProviderLoad(record, record.capacity if record.provider_id == "iacp" else 0, 0) for record in PROVIDERS]
    choices = provider_choices(loads, TODAY)
    assert [c.tier for c in choices] == sorted((c.tier for c in choices), key=list(Tier).index)
    cri_tac = [c.name for c in choices if c.tier == Tier.CRI_TAC]
    assert cri_tac == sorted(cri_tac)
    iacp = next(c for c in choices if c.provider_id == "iacp")
    assert iacp.full and iacp.option == ("iacp", f"{iacp.name} (CRI-TAC): 40 of 40 engagements: full")
    assert not any(c.full for c in choices if c.provider_id != "iacp")


def test_a_provider_that_is_not_a_partner_that_day_is_not_offered() -> None:
    loads = [ProviderLoad(record, 0, 0) for record in PROVIDERS]
    first_day = min(record.valid_from for record in PROVIDERS)
    before_any = provider_choices(loads, first_day - timedelta(days=1))
    assert before_any == []
    assert {c.provider_id for c in provider_choices(loads, TODAY)} == {
        r.provider_id for r in PROVIDERS if r.active_on(TODAY)
    }


def test_the_policys_findings_read_as_sentences_that_name_tiers_in_words() -> None:
    said = sentence("conflicting signals: both critical_response and organizational_assessment apply")
    assert said == "Conflicting signals: both Critical Response and Organizational Assessment apply"
    assert (
        sentence("0 topic areas requested; CRI-TAC needs at least 1")
        == "0 topic areas requested; CRI-TAC needs at least 1"
    )
