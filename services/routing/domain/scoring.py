"""Which provider of a tier: the partners of the day who may take the request (specialists in its topics, unless
the policy opens the tier to generalists), scored by the tier's weights, then ranked."""

from collections.abc import Sequence
from datetime import date

from services.routing.domain.policy import Policy, Weights
from services.routing.domain.profiles import AgencyProfile, agency_profiles
from services.routing.domain.providers import ProviderLoad, ProviderRecord
from shared.contract.events import ProviderScore
from shared.contract.requests import AssistanceRequested
from shared.contract.vocabulary import Tier, TopicArea


def score(load: ProviderLoad, topics: set[TopicArea], profiles: set[AgencyProfile], weights: Weights) -> ProviderScore:
    """expertise x share of topics covered + profile x share of the agency's profiles served + capacity x share
    of capacity free. The score is published as it is (RequestRouted's `providers_scored`): what it says changes
    with a new version of the event."""
    record = load.record
    covered = sorted(topics & set(record.expertise))
    served = sorted(profiles & set(record.serves_best))
    room = max(record.capacity - load.active, 0)
    total = (
        weights.expertise * (len(covered) / len(topics) if topics else 0.0)
        + weights.profile * (len(served) / len(profiles) if profiles else 0.0)
        + weights.capacity * (room / record.capacity if record.capacity else 0.0)
    )
    return ProviderScore(
        provider_id=record.provider_id,
        score=round(total, 6),  # equal fractions must tie whatever the float arithmetic did
        has_room=room > 0,
        reasons=[
            f"expertise: {len(covered)} of {len(topics)} topics" + (f" ({', '.join(covered)})" if covered else ""),
            f"profile: {len(served)} of {len(profiles)}" + (f" ({', '.join(served)})" if served else ""),
            f"room: {room} of {record.capacity}",
        ],
    )


def partners(tier: Tier, providers: Sequence[ProviderLoad], today: date) -> list[ProviderLoad]:
    """The tier's providers that are partners of the program on `today`."""
    return [load for load in providers if load.record.tier == tier and load.record.active_on(today)]


def specialists(
    request: AssistanceRequested, tier: Tier, loads: Sequence[ProviderLoad], policy: Policy
) -> list[ProviderLoad]:
    """Who of `loads` may take the request: those with expertise in at least one topic it asks for, unless the
    policy opens the tier to generalists or the request asks for no topic."""
    topics = set(request.assistance.topic_areas)
    if tier in policy.provider_choice.generalists_allowed or not topics:
        return list(loads)
    return [load for load in loads if topics & set(load.record.expertise)]


def ranked(
    request: AssistanceRequested, tier: Tier, loads: Sequence[ProviderLoad], policy: Policy
) -> list[tuple[ProviderScore, ProviderLoad]]:
    """`loads` scored by the tier's weights, best first: room, score, then fewest active, then the one assigned
    least recently (never assigned first: fair over time), fewest ever assigned, id."""
    topics = set(request.assistance.topic_areas)
    profiles = agency_profiles(request.agency, policy)
    scored = [(score(load, topics, profiles, policy.scoring[tier]), load) for load in loads]
    return sorted(
        scored,
        key=lambda pair: (
            not pair[0].has_room,
            -pair[0].score,
            pair[1].active,
            pair[1].last_assigned_at.timestamp() if pair[1].last_assigned_at else float("-inf"),
            pair[1].assigned_total,
            pair[1].record.provider_id,
        ),
    )


def uncovered_topics(policy: Policy, providers: Sequence[ProviderRecord], today: date) -> dict[Tier, list[TopicArea]]:
    """Per tier that takes specialists only, the catalog topics no partner of the day covers: a request asking
    only for those goes to staff. Warned about when the policy is loaded."""
    uncovered = {}
    for tier in Tier:
        if tier in policy.provider_choice.generalists_allowed:
            continue
        covered = {topic for r in providers if r.tier == tier and r.active_on(today) for topic in r.expertise}
        if missing := [topic for topic in TopicArea if topic not in covered]:
            uncovered[tier] = missing
    return uncovered
