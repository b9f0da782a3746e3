"""When the next milestone of an engagement falls due: the days the deadlines file allows per milestone and
tier, and a clock whose "day" tests can shrink. Pure, except `load_deadlines`, which reads the file once at
start."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationInfo, field_validator

from services.engagements.domain.lifecycle import LIFECYCLES, Milestone, allowed_next, repeatable_updates
from shared.contract.vocabulary import Tier
from shared.runtime.datafiles import DataFileError, load_model

_DAY_S = 86400


class DeadlinePolicy(BaseModel):
    """Days allowed to reach each milestone, per tier (fields are named after the tiers). A milestone left out
    has no deadline; `closed` may be given, counted from the tier's last milestone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cri_tac: dict[Milestone, PositiveInt]
    critical_response: dict[Milestone, PositiveInt]
    organizational_assessment: dict[Milestone, PositiveInt]

    @field_validator("*")
    @classmethod
    def _only_milestones_that_fall_due(cls, days: dict[Milestone, int], info: ValidationInfo) -> dict[Milestone, int]:
        tier = Tier(info.field_name)
        can_fall_due = [*LIFECYCLES[tier][1:], *repeatable_updates(tier), Milestone.CLOSED]
        if wrong := [m for m in days if m not in can_fall_due]:
            raise ValueError(f"{', '.join(wrong)}: no such deadline in {tier}; expected {', '.join(can_fall_due)}")
        return days

    def days(self, tier: Tier) -> dict[Milestone, int]:
        return getattr(self, tier.value)


class DeadlineFileError(DataFileError):
    """The deadlines file is not a valid policy; the message names the file, line and key of each problem."""


def load_deadlines(path: Path) -> DeadlinePolicy:
    return load_model(path, DeadlinePolicy, DeadlineFileError)


def next_deadline(policy: DeadlinePolicy, tier: Tier, status: str, since: datetime) -> tuple[str, datetime] | None:
    """The milestone due soonest from `status`, and when, counted from `since`: the time the engagement last
    recorded a milestone (a progress report counts, so each one restarts the clock of the next). None when
    closed or when nothing due has a deadline."""
    due = allowed_next(tier, status)
    if status == LIFECYCLES[tier][-1]:
        due.append(Milestone.CLOSED)
    days = policy.days(tier)
    deadlines = [(milestone, since + timedelta(days=days[milestone])) for milestone in due if milestone in days]
    return min(deadlines, key=lambda deadline: deadline[1], default=None)


@dataclass(frozen=True, slots=True)
class DeadlineClock:
    """`next_deadline` on days of `day_seconds` (a day by default)."""

    policy: DeadlinePolicy
    day_seconds: float = _DAY_S

    def next(self, tier: Tier, status: str, since: datetime) -> tuple[str, datetime] | None:
        """The milestone due next and when, `since` the last milestone; None when nothing is due."""
        found = next_deadline(self.policy, tier, status, since)
        if found is None:
            return None
        milestone, due_at = found
        return milestone, since + (due_at - since) * (self.day_seconds / _DAY_S)
