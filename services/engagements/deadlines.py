"""When the next milestone of an engagement falls due, on a clock whose "day" tests can shrink (pure)."""

from dataclasses import dataclass
from datetime import datetime

from services.engagements.lifecycle import DeadlinePolicy, next_deadline
from shared.contract.vocabulary import Tier

_DAY_S = 86400


@dataclass(frozen=True, slots=True)
class DeadlineClock:
    policy: DeadlinePolicy
    day_seconds: float = _DAY_S

    def next(self, tier: Tier, status: str, since: datetime) -> tuple[str, datetime] | None:
        """The milestone due next and when, `since` the last milestone; None when nothing is due."""
        found = next_deadline(self.policy, tier, status, since)
        if found is None:
            return None
        milestone, due_at = found
        return milestone, since + (due_at - since) * (self.day_seconds / _DAY_S)
