"""What the staff triage pages say, decided without I/O: the program's codes in words, a decision's rules as
sentences, how long a request has waited, and each provider's room as the assignment form offers it. Templates
only lay these out."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from services.routing.domain.providers import ProviderLoad
from shared.contract.vocabulary import Tier

_WORDS = {
    Tier.CRI_TAC: "CRI-TAC",
    Tier.CRITICAL_RESPONSE: "Critical Response",
    Tier.ORGANIZATIONAL_ASSESSMENT: "Organizational Assessment",
    "needs_review": "In review",
    "queued": "Waiting for a place",
    "routed": "Routed",
    "pending": "Not decided yet",
    "policy": "The policy",
    "staff": "Staff",
    "large_city": "Large cities",
    "large_county": "Large counties",
    "small_agency": "Small agencies",
    "state_agency": "State agencies",
    "campus": "Campus agencies",
    "sheriff": "Sheriffs' offices",
    "tribal": "Tribal agencies",
}

# Rules a decision records (tier_rules.py, decision.py, override.py, commands.py), as staff read them. A rule
# not named here (a new one) is shown by its id in words, so the record never hides what fired.
_RULES = {
    "critical_response.recent_event": "A recent incident asks for Critical Response help.",
    "critical_response.high_profile": "The incident is flagged high-profile.",
    "critical_response.major_incident": "The incident is flagged a major incident.",
    "organizational_assessment.systemic_issues": "Systemic issues with long-term assistance wanted call for an "
    "Organizational Assessment.",
    "organizational_assessment.commitment_to_confirm": "Leadership's commitment to implement is still to confirm.",
    "cri_tac.topic_areas": "CRI-TAC topics are asked for.",
    "queue.all_providers_full": "Every provider of the tier is full: the request waits for a place.",
    "queue.no_active_provider": "No provider delivers the tier today: the request waits.",
    "queue.place_freed": "A place freed: the request was decided again from the waiting queue.",
    "staff.override": "Assigned by program staff.",
    "staff.over_capacity": "Assigned beyond the provider's capacity, on staff's decision.",
}


def words(code: str | None) -> str:
    """A code of the program in words for people: `cri_tac` -> "CRI-TAC", `needs_review` -> "In review"."""
    if not code:
        return ""
    return _WORDS.get(code) or code.replace("_", " ").capitalize()


def sentence(text: str) -> str:
    """One of the policy's findings as a sentence for people: the tiers it names in words, a capital first."""
    for tier in Tier:
        text = text.replace(tier.value, words(tier))
    return text[:1].upper() + text[1:]


def rule_in_words(rule: str) -> str:
    """One fired rule as a sentence."""
    if rule in _RULES:
        return _RULES[rule]
    kind, _, detail = rule.partition(".")
    if kind == "precedence" and detail in set(Tier):
        return f"{words(detail)} comes first by the policy's precedence."
    if kind == "escalation" and "_to_" in detail:
        source, target = detail.split("_to_", 1)
        return f"Escalated by staff from {words(source)} to {words(target)}."
    return f"{words(kind)}: {words(detail).lower()}." if detail else f"{words(kind)}."


def waited(since: datetime, now: datetime) -> str:
    """How long since `since`, in the largest whole unit: "3 days", "5 hours", "under a minute"."""
    seconds = max(int((now - since).total_seconds()), 0)
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "under a minute"


def room(load: ProviderLoad) -> int:
    """Places the provider has left (none when it carries more than its capacity)."""
    return max(load.record.capacity - load.active, 0)


def load_in_words(load: ProviderLoad) -> str:
    """ "3 of 15 engagements (12 free)", or "15 of 15 engagements: full"."""
    carried = f"{load.active} of {load.record.capacity} engagements"
    free = room(load)
    return f"{carried} ({free} free)" if free else f"{carried}: full"


@dataclass(frozen=True)
class ProviderChoice:
    """A provider as the assignment form offers it, with its load, so a full one is seen before it is chosen."""

    provider_id: str
    name: str
    tier: Tier
    load: str
    full: bool

    @property
    def option(self) -> tuple[str, str]:
        """As the form's select lists it: value and label."""
        return self.provider_id, f"{self.name} ({words(self.tier)}): {self.load}"


def provider_choices(loads: Sequence[ProviderLoad], today: date) -> list[ProviderChoice]:
    """The partners of the day that staff may assign, by tier then name."""
    partners = [load for load in loads if load.record.active_on(today)]
    partners.sort(key=lambda load: (list(Tier).index(load.record.tier), load.record.name))
    return [
        ProviderChoice(load.record.provider_id, load.record.name, load.record.tier, load_in_words(load), not room(load))
        for load in partners
    ]


TIER_OPTIONS = [(tier.value, words(tier)) for tier in Tier]
