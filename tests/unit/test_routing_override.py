"""Staff override, as a specification: staff choose any partner of the tier; a full one only when they force it."""

from datetime import date

import pytest

from services.routing.domain.override import InvalidAssignment, NoRoom, staff_decision
from services.routing.domain.providers import ProviderLoad, load_providers
from services.routing.settings import PROVIDERS_FILE
from shared.contract.vocabulary import Tier

TODAY = date(2026, 6, 1)
PROVIDERS = load_providers(PROVIDERS_FILE)


def loads(**active: int) -> list[ProviderLoad]:
    return [ProviderLoad(record, active.get(record.provider_id, 0), 0) for record in PROVIDERS]


def assign(provider_id: str, tier: Tier = Tier.CRI_TAC, *, held: str | None = None, force: bool = False, **active):
    return staff_decision(
        loads(**active), tier, provider_id, held_provider_id=held, force=force, today=TODAY, policy_version="2026.1"
    )


def test_staff_route_a_request_to_a_partner_of_the_tier_and_the_decision_says_so() -> None:
    decision = assign("noble")
    assert decision.outcome == "routed"
    assert decision.tier == Tier.CRI_TAC
    assert decision.provider.provider_id == "noble"
    assert decision.rules_fired == ["staff.override"]
    assert decision.policy_version == "2026.1"


@pytest.mark.parametrize(
    ("provider_id", "tier", "problem"),
    [
        ("nobody", Tier.CRI_TAC, "unknown provider 'nobody'"),
        ("iacp", Tier.CRITICAL_RESPONSE, "provider 'iacp' delivers cri_tac, not critical_response"),
    ],
)
def test_an_unknown_provider_or_one_of_another_tier_is_refused(provider_id: str, tier: Tier, problem: str) -> None:
    with pytest.raises(InvalidAssignment, match=problem):
        assign(provider_id, tier)


def test_a_provider_that_is_not_a_partner_yet_is_refused() -> None:
    mcsa_joined = next(r for r in PROVIDERS if r.provider_id == "mcsa").valid_from
    with pytest.raises(InvalidAssignment, match="not a partner"):
        staff_decision(
            loads(),
            Tier.CRI_TAC,
            "mcsa",
            held_provider_id=None,
            force=False,
            today=date(mcsa_joined.year - 1, 6, 1),
            policy_version="2026.1",
        )


def test_a_full_provider_is_refused_unless_staff_force_it_which_is_recorded() -> None:
    with pytest.raises(NoRoom, match="carries 12 of 12 engagements; send force: true"):
        assign("noble", noble=12)
    forced = assign("noble", force=True, noble=12)
    assert forced.rules_fired == ["staff.override", "staff.over_capacity"]


def test_confirming_the_provider_whose_place_the_request_holds_needs_no_room() -> None:
    decision = assign("noble", held="noble", noble=12)
    assert decision.rules_fired == ["staff.override"]
