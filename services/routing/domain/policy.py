"""The routing policy as data (`data/policy.yaml` explains each setting): what each tier's rule looks for, which
tier wins when several apply, which pairs go to staff, what the agency's words and history may do, and how
providers are chosen and scored. Validated as a whole, so a policy that loads is one the decision can use. Pure,
except `load_policy`, which reads the file (and the lexicon it names) at start."""

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from services.routing.domain import Strict
from services.routing.domain.lexicon import Lexicon, LexiconError, load_lexicon
from shared.contract.vocabulary import CriticalAssistance, SystemicIssue, Tier
from shared.runtime.datafiles import DataFileError, load_model


class PolicyError(DataFileError):
    """A policy or provider file cannot be used; the message names the file, the line, the key and the problem."""


class ProfileThresholds(Strict):
    small_agency_below_sworn: int = Field(gt=0)
    large_city_min_population: int = Field(gt=0)
    large_city_min_sworn: int = Field(gt=0)
    large_county_min_sworn: int = Field(gt=0)

    @model_validator(mode="after")
    def _small_is_not_large(self) -> Self:
        if self.small_agency_below_sworn > min(self.large_city_min_sworn, self.large_county_min_sworn):
            raise ValueError("small_agency_below_sworn exceeds a large-agency sworn threshold")
        return self


class CriticalResponseRule(Strict):
    recent_days: int = Field(gt=0, description="An incident older than this is not recent.")
    event_flags: list[Literal["high_profile", "major_incident"]] = Field(min_length=1)
    assistance: list[CriticalAssistance] = Field(min_length=1)


class OrganizationalAssessmentRule(Strict):
    issues: list[SystemicIssue] = Field(min_length=1)
    missing_commitment: Literal["note", "review"]


class CriTacRule(Strict):
    min_topics: int = Field(gt=0)


class ReviewRule(Strict):
    conflicting: list[tuple[Tier, Tier]]

    @field_validator("conflicting")
    @classmethod
    def _pairs_of_two_tiers(cls, pairs: list[tuple[Tier, Tier]]) -> list[tuple[Tier, Tier]]:
        if any(first == second for first, second in pairs):
            raise ValueError("a tier cannot conflict with itself")
        return pairs


class Rules(Strict):
    """One section per tier rule (`tier_rules.py`), then how their findings combine."""

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


class TextSignals(Strict):
    """What the agency wrote (`lexicon.py`): the lexicon file beside the policy, and which tiers its words may
    raise to staff when the agency asked nothing of them."""

    lexicon_file: Annotated[str, StringConstraints(pattern=r"^[\w.-]+$")] = Field(description="Beside the policy.")
    lexicon_version: str = Field(description="The lexicon's version this policy was written with.")
    review_unasked: list[Tier]


HistoryAction = Literal["note", "review"]


class RepeatCriticalResponse(Strict):
    within_days: int = Field(gt=0)
    action: HistoryAction


class OpenAssessment(Strict):
    action: HistoryAction


class RecentEscalation(Strict):
    within_days: int = Field(gt=0)
    action: HistoryAction


class AgencyHistoryRules(Strict):
    """What the agency's earlier requests and engagements mean for a new one (`history.py`): `note` records the
    fact in the decision, `review` sends the request to staff with it."""

    repeat_critical_response: RepeatCriticalResponse
    open_assessment: OpenAssessment
    recent_escalation: RecentEscalation


class ProviderChoice(Strict):
    """Who may take a request of a tier (`scoring.py`)."""

    generalists_allowed: list[Tier] = Field(
        description="Tiers where a provider with no expertise in any requested topic is a candidate too; in the "
        "others the request waits for a specialist."
    )
    max_wait_days: int = Field(gt=0, description="A request waiting this long for a place goes to staff.")


class Weights(Strict):
    """The weight of each term of a provider's score (`scoring.py`)."""

    expertise: float = Field(ge=0)
    profile: float = Field(ge=0)
    capacity: float = Field(ge=0)


class Policy(Strict):
    """The routing rules in force; every decision records their `version`."""

    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    agency_profiles: ProfileThresholds
    rules: Rules
    text_signals: TextSignals
    agency_history: AgencyHistoryRules
    provider_choice: ProviderChoice
    scoring: dict[Tier, Weights]
    lexicon: Lexicon | None = Field(default=None, description="Read by `load_policy` from `text_signals`.")

    @field_validator("scoring")
    @classmethod
    def _every_tier_weighted(cls, scoring: dict[Tier, Weights]) -> dict[Tier, Weights]:
        missing = [tier for tier in Tier if tier not in scoring]
        if missing:
            raise ValueError(f"no weights for {', '.join(missing)}")
        return scoring


def load_policy(path: Path, lexicons: Path | None = None) -> Policy:
    """The policy file and the lexicon it names: beside it, else in `lexicons` (where a policy written elsewhere,
    such as a what-if candidate, finds the service's); refused when the lexicon is not the version the policy was
    written with, so a decision's policy version always says which words it was read with."""
    policy = load_model(path, Policy, PolicyError)
    lexicon_path = path.parent / policy.text_signals.lexicon_file
    if lexicons is not None and not lexicon_path.exists():
        lexicon_path = lexicons / policy.text_signals.lexicon_file
    try:
        lexicon = load_lexicon(lexicon_path)
    except LexiconError as exc:
        raise PolicyError(str(exc)) from None
    if lexicon.version != policy.text_signals.lexicon_version:
        raise PolicyError(
            f"{path}: text_signals.lexicon_version: {policy.text_signals.lexicon_version!r}, but "
            f"{lexicon_path} is version {lexicon.version!r}: bump the policy with the lexicon"
        )
    return policy.model_copy(update={"lexicon": lexicon})
