"""Which provider of a tier: each partner of the day scored by the tier's weights, then ranked."""

from collections.abc import Sequence
from datetime import date

from services.routing.domain.policy import Policy, Weights
from services.routing.domain.profiles import AgencyProfile, agency_profiles
from services.routing.domain.providers import ProviderLoad
from shared.contract.events import ProviderScore
from shared.contract.requests import RequestForAssistance
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


def ranked(
    request: RequestForAssistance, tier: Tier, providers: Sequence[ProviderLoad], policy: Policy, today: date
) -> list[tuple[ProviderScore, ProviderLoad]]:
    """The tier's providers active today, best first: room, score, then fewest active, fewest assigned, id."""
    topics = set(request.assistance.topic_areas)
    profiles = agency_profiles(request.agency, policy)
    scored = [
        (score(load, topics, profiles, policy.scoring[tier]), load)
        for load in providers
        if load.record.tier == tier and load.record.active_on(today)
    ]
    return sorted(
        scored,
        key=lambda pair: (
            not pair[0].has_room,
            -pair[0].score,
            pair[1].active,
            pair[1].assigned_total,
            pair[1].record.provider_id,
        ),
    )
