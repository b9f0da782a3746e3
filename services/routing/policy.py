"""The routing policy: which tier a request for assistance belongs to, and which provider takes it.

`decide` is pure: request, the providers' current load, the policy and today's date in; a `Decision` out. The
only I/O here is reading the policy and the provider registry, both YAML files under `data/`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from shared.contract.events import ProviderRef
from shared.contract.requests import Agency, AssistanceWanted, Incident, RequestForAssistance, SystemicConcerns
from shared.contract.vocabulary import AgencyType, CriticalAssistance, SystemicIssue, Tier, TopicArea, Urgency

DATA_DIR = Path(__file__).parent / "data"
POLICY_FILE = DATA_DIR / "policy.yaml"
PROVIDERS_FILE = DATA_DIR / "providers.yaml"


class PolicyError(ValueError):
    """A policy or provider file cannot be used; the message names the file, the location and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgencyProfile(StrEnum):
    """Kinds of agency a provider serves best; derived from the request by `agency_profiles`."""

    CAMPUS = "campus"
    SHERIFF = "sheriff"
    LARGE_CITY = "large_city"
    LARGE_COUNTY = "large_county"
    SMALL_AGENCY = "small_agency"
    TRIBAL = "tribal"
    STATE_AGENCY = "state_agency"


class ProviderRecord(_Strict):
    """One provider's partnership with the program, dated because the set of partners changes."""

    provider_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")] = Field(examples=["iacp"])
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    tier: Tier
    expertise: list[TopicArea] = Field(default_factory=list, description="CRI-TAC topics the provider delivers.")
    serves_best: list[AgencyProfile] = Field(default_factory=list)
    capacity: int = Field(ge=0, description="Most engagements the provider carries at once.")
    valid_from: date
    valid_to: date | None = Field(default=None, description="Last day of the partnership; open-ended when absent.")
    contact_email: str | None = None
    webhook_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        # CRI-TAC providers are chosen by topic, so one without expertise could only ever win on capacity.
        if self.tier == Tier.CRI_TAC and not self.expertise:
            raise ValueError("a CRI-TAC provider needs at least one expertise topic")
        return self

    def ref(self) -> ProviderRef:
        return ProviderRef(provider_id=self.provider_id, name=self.name, contact_email=self.contact_email)

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class ProviderLoad:
    """A provider with its current load, as the routing service counts it."""

    record: ProviderRecord
    active: int  # engagements open now
    assigned_total: int  # engagements ever assigned, so ties go to whoever has had fewer

    def __post_init__(self) -> None:
        if self.active < 0 or self.assigned_total < 0:
            raise ValueError(f"{self.record.provider_id}: load counts cannot be negative")


# --- the policy, as data ------------------------------------------------------------------------------------


class ProfileThresholds(_Strict):
    small_agency_below_sworn: int = Field(gt=0)
    large_city_min_population: int = Field(gt=0)
    large_city_min_sworn: int = Field(gt=0)
    large_county_min_sworn: int = Field(gt=0)

    @model_validator(mode="after")
    def _small_is_not_large(self) -> Self:
        if self.small_agency_below_sworn > min(self.large_city_min_sworn, self.large_county_min_sworn):
            raise ValueError("small_agency_below_sworn exceeds a large-agency sworn threshold")
        return self


class CriticalResponseRule(_Strict):
    recent_days: int = Field(gt=0, description="An incident older than this is not recent.")
    event_flags: list[Literal["high_profile", "major_incident"]] = Field(min_length=1)
    assistance: list[CriticalAssistance] = Field(min_length=1)


class OrganizationalAssessmentRule(_Strict):
    issues: list[SystemicIssue] = Field(min_length=1)
    missing_commitment: Literal["note", "review"]


class CriTacRule(_Strict):
    min_topics: int = Field(gt=0)


class ReviewRule(_Strict):
    conflicting: list[tuple[Tier, Tier]]

    @field_validator("conflicting")
    @classmethod
    def _pairs_of_two_tiers(cls, pairs: list[tuple[Tier, Tier]]) -> list[tuple[Tier, Tier]]:
        if any(first == second for first, second in pairs):
            raise ValueError("a tier cannot conflict with itself")
        return pairs


class Rules(_Strict):
    critical_response: CriticalResponseRule
    organizational_assessment: OrganizationalAssessmentRule
    cri_tac: CriTacRule
    review: ReviewRule
    precedence: list[Tier]

    @field_validator("precedence")
    @classmethod
    def _every_tier_once(cls, precedence: list[Tier]) -> list[Tier]:
        if sorted(precedence) != sorted(Tier):
            raise ValueError(f"must name every tier exactly once: {', '.join(Tier)}")
        return precedence


class Weights(_Strict):
    expertise: float = Field(ge=0)
    profile: float = Field(ge=0)
    capacity: float = Field(ge=0)


class Policy(_Strict):
    """The routing rules in force; `data/policy.yaml` explains each one."""

    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    agency_profiles: ProfileThresholds
    rules: Rules
    scoring: dict[Tier, Weights]

    @field_validator("scoring")
    @classmethod
    def _every_tier_weighted(cls, scoring: dict[Tier, Weights]) -> dict[Tier, Weights]:
        missing = [tier for tier in Tier if tier not in scoring]
        if missing:
            raise ValueError(f"no weights for {', '.join(missing)}")
        return scoring


class _Registry(_Strict):
    providers: list[ProviderRecord]


# --- loading --------------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice; PyYAML would silently keep the last one."""


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        raise PolicyError(f"{path.name}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(whole file)"
        raise PolicyError(f"{path.name}: {where}: {getattr(exc, 'problem', None) or exc}") from exc


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], path: Path) -> M:
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as exc:
        problems = [
            f"{path.name}: {'.'.join(map(str, error['loc'])) or '(top level)'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        ]
        raise PolicyError("; ".join(problems)) from exc


def load_policy(path: Path) -> Policy:
    return _validated(Policy, path)


def load_providers(path: Path) -> list[ProviderRecord]:
    providers = _validated(_Registry, path).providers
    first_at: dict[str, int] = {}
    for index, record in enumerate(providers):
        if record.provider_id in first_at:
            raise PolicyError(
                f"{path.name}: providers.{index}.provider_id: duplicate provider id {record.provider_id!r} "
                f"(first at providers.{first_at[record.provider_id]})"
            )
        first_at[record.provider_id] = index
    return providers


# --- the decision ---------------------------------------------------------------------------------------------


class ScoredCandidate(_Strict):
    provider_id: str
    score: float
    has_room: bool
    reasons: list[str]


class Decision(_Strict):
    outcome: Literal["routed", "needs_review", "queued"]
    tier: Tier | None
    provider: ProviderRecord | None
    rules_fired: list[str]
    candidates: list[ScoredCandidate] = Field(description="Providers of the tier, best first.")
    review_reasons: list[str]
    candidate_tiers: list[Tier] = Field(
        default_factory=list, description="Tiers whose rules fired or whose asks staff must confirm, by precedence."
    )
    policy_version: str

    @model_validator(mode="after")
    def _outcome_is_complete(self) -> Self:
        match self.outcome:
            case "routed":
                complete = self.provider is not None and self.provider.tier == self.tier and not self.review_reasons
            case "queued":
                complete = self.tier is not None and self.provider is None and not self.review_reasons
            case "needs_review":
                complete = self.tier is None and self.provider is None and bool(self.review_reasons)
        if not complete:
            raise ValueError(f"an incomplete {self.outcome!r} decision")
        return self


def agency_profiles(agency: Agency, policy: Policy) -> set[AgencyProfile]:
    limits = policy.agency_profiles
    profiles = set()
    if agency.type == AgencyType.CAMPUS:
        profiles.add(AgencyProfile.CAMPUS)
    if agency.type == AgencyType.TRIBAL:
        profiles.add(AgencyProfile.TRIBAL)
    if agency.type == AgencyType.STATE:
        profiles.add(AgencyProfile.STATE_AGENCY)
    if agency.sheriff_office:
        profiles.add(AgencyProfile.SHERIFF)
        if agency.sworn_officers >= limits.large_county_min_sworn:
            profiles.add(AgencyProfile.LARGE_COUNTY)
    elif agency.type == AgencyType.LOCAL and (
        agency.population_served >= limits.large_city_min_population
        or agency.sworn_officers >= limits.large_city_min_sworn
    ):
        profiles.add(AgencyProfile.LARGE_CITY)
    if agency.sworn_officers < limits.small_agency_below_sworn:
        profiles.add(AgencyProfile.SMALL_AGENCY)
    return profiles


def queue_priority(request: RequestForAssistance) -> int:
    """Position class in the waiting queue: sort ascending (urgent first), then by time queued."""
    return {Urgency.URGENT: 0, Urgency.PRIORITY: 1, Urgency.ROUTINE: 2}[request.urgency]


@dataclass(frozen=True)
class _Signal:
    """What one tier's rule found in a request."""

    tier: Tier
    rules: tuple[str, ...] = ()  # rule ids; non-empty when the tier applies
    review: tuple[str, ...] = ()  # the agency asked for this tier's help, but the rule cannot confirm it
    absent: str = ""  # why the tier does not apply, told to staff when no tier does


def _critical_response(incident: Incident | None, rule: CriticalResponseRule, today: date) -> _Signal:
    tier = Tier.CRITICAL_RESPONSE
    if incident is None:
        return _Signal(tier, absent="no incident described")
    asked = ", ".join(sorted(set(incident.assistance) & set(rule.assistance)))
    if not asked:
        return _Signal(tier, absent="the incident asks for no critical response assistance")
    age = (today - incident.occurred_on).days
    if age < 0:
        return _Signal(tier, review=(f"the incident asks for {asked} but is future-dated: {incident.occurred_on}",))
    if age > rule.recent_days:
        return _Signal(
            tier,
            review=(f"the incident asks for {asked} but is {age} days old, beyond the {rule.recent_days}-day window",),
        )
    flags = [flag for flag in rule.event_flags if getattr(incident, flag)]
    if not flags:
        return _Signal(
            tier,
            review=(
                f"the incident asks for {asked} but is not flagged {' or '.join(rule.event_flags)}: "
                "staff to judge whether it is a sensitive issue",
            ),
        )
    return _Signal(tier, rules=("critical_response.recent_event", *(f"critical_response.{flag}" for flag in flags)))


def _organizational_assessment(concerns: SystemicConcerns | None, rule: OrganizationalAssessmentRule) -> _Signal:
    tier = Tier.ORGANIZATIONAL_ASSESSMENT
    if concerns is None:
        return _Signal(tier, absent="no systemic concerns described")
    if not set(concerns.issues) & set(rule.issues):
        return _Signal(tier, absent="the systemic concerns name no issue the assessment rule covers")
    if not concerns.long_term_assistance_wanted:
        return _Signal(tier, absent="systemic concerns are described but long-term assistance is not wanted")
    if concerns.commitment_to_implement:
        return _Signal(tier, rules=("organizational_assessment.systemic_issues",))
    if rule.missing_commitment == "review":
        return _Signal(tier, review=("an assessment is wanted but leadership has not committed to implement it",))
    return _Signal(
        tier, rules=("organizational_assessment.systemic_issues", "organizational_assessment.commitment_to_confirm")
    )


def _cri_tac(assistance: AssistanceWanted, rule: CriTacRule) -> _Signal:
    topics = len(set(assistance.topic_areas))
    if topics < rule.min_topics:
        return _Signal(Tier.CRI_TAC, absent=f"{topics} topic areas requested; CRI-TAC needs at least {rule.min_topics}")
    return _Signal(Tier.CRI_TAC, rules=("cri_tac.topic_areas",))


def _score(
    load: ProviderLoad, topics: set[TopicArea], profiles: set[AgencyProfile], weights: Weights
) -> ScoredCandidate:
    record = load.record
    covered = sorted(topics & set(record.expertise))
    served = sorted(profiles & set(record.serves_best))
    room = max(record.capacity - load.active, 0)
    score = (
        weights.expertise * (len(covered) / len(topics) if topics else 0.0)
        + weights.profile * (len(served) / len(profiles) if profiles else 0.0)
        + weights.capacity * (room / record.capacity if record.capacity else 0.0)
    )
    return ScoredCandidate(
        provider_id=record.provider_id,
        score=round(score, 6),  # equal fractions must tie whatever the float arithmetic did
        has_room=room > 0,
        reasons=[
            f"expertise: {len(covered)} of {len(topics)} topics" + (f" ({', '.join(covered)})" if covered else ""),
            f"profile: {len(served)} of {len(profiles)}" + (f" ({', '.join(served)})" if served else ""),
            f"room: {room} of {record.capacity}",
        ],
    )


def _ranked(
    request: RequestForAssistance, tier: Tier, providers: Sequence[ProviderLoad], policy: Policy, today: date
) -> list[tuple[ScoredCandidate, ProviderLoad]]:
    """The tier's providers active today, best first: room, score, then fewest active, fewest assigned, id."""
    topics = set(request.assistance.topic_areas)
    profiles = agency_profiles(request.agency, policy)
    scored = [
        (_score(load, topics, profiles, policy.scoring[tier]), load)
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


def decide(request: RequestForAssistance, providers: Sequence[ProviderLoad], policy: Policy, today: date) -> Decision:
    rules = policy.rules
    signals = [
        _critical_response(request.incident, rules.critical_response, today),
        _organizational_assessment(request.systemic_concerns, rules.organizational_assessment),
        _cri_tac(request.assistance, rules.cri_tac),
    ]
    fired = {signal.tier for signal in signals if signal.rules}
    asked = fired | {signal.tier for signal in signals if signal.review}
    candidate_tiers = [tier for tier in rules.precedence if tier in asked]
    rules_fired = [rule for signal in signals for rule in signal.rules]
    review = [reason for signal in signals for reason in signal.review]
    review += [f"conflicting signals: both {a} and {b} apply" for a, b in rules.review.conflicting if {a, b} <= fired]
    if not fired and not review:
        review = ["too thin to route: no tier's rule applies", *(signal.absent for signal in signals)]
    if review:
        return Decision(
            outcome="needs_review",
            tier=None,
            provider=None,
            rules_fired=rules_fired,
            candidates=[],
            review_reasons=review,
            candidate_tiers=candidate_tiers,
            policy_version=policy.version,
        )

    tier = candidate_tiers[0]
    if len(fired) > 1:
        rules_fired.append(f"precedence.{tier}")
    return assign_in_tier(request, tier, providers, policy, today, rules_fired, candidate_tiers)


def assign_in_tier(
    request: RequestForAssistance,
    tier: Tier,
    providers: Sequence[ProviderLoad],
    policy: Policy,
    today: date,
    rules_fired: Sequence[str],
    candidate_tiers: Sequence[Tier] | None = None,
) -> Decision:
    """The best provider of a tier already decided (by the policy, an escalation, or a queue) with room, or the
    queue when none has room."""
    rules = list(rules_fired)
    ranked = _ranked(request, tier, providers, policy, today)
    chosen = ranked[0][1].record if ranked and ranked[0][0].has_room else None
    if chosen is None:
        rules.append("queue.all_providers_full" if ranked else "queue.no_active_provider")
    return Decision(
        outcome="routed" if chosen else "queued",
        tier=tier,
        provider=chosen,
        rules_fired=rules,
        candidates=[candidate for candidate, _ in ranked],
        review_reasons=[],
        candidate_tiers=list(candidate_tiers) if candidate_tiers is not None else [tier],
        policy_version=policy.version,
    )
