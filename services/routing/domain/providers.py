"""The provider registry: each provider's dated partnership with the program (`data/providers.yaml`), and its
load as routing counts it. Pure, except `load_providers`, which reads the file at start."""

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from services.routing.domain import Strict
from services.routing.domain.policy import PolicyError
from services.routing.domain.profiles import AgencyProfile
from shared.contract.events import ProviderRef
from shared.contract.vocabulary import Tier, TopicArea
from shared.runtime.datafiles import load_model


class ProviderRecord(Strict):
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


class Registry(Strict):
    """The registry as its data file holds it: every provider once."""

    providers: list[ProviderRecord]

    @field_validator("providers")
    @classmethod
    def _each_provider_once(cls, providers: list[ProviderRecord]) -> list[ProviderRecord]:
        first_at: dict[str, int] = {}
        duplicates = []
        for index, record in enumerate(providers):
            if record.provider_id in first_at:
                first = first_at[record.provider_id]
                message = f"duplicate provider id '{record.provider_id}' (first at providers.{first})"
                error = PydanticCustomError("duplicate_provider", message)
                duplicates.append(InitErrorDetails(type=error, loc=(index, "provider_id"), input=record.provider_id))
            first_at.setdefault(record.provider_id, index)
        if duplicates:
            # A ValidationError (not a ValueError) keeps each error's place: the item's provider_id, not the list.
            raise ValidationError.from_exception_data(cls.__name__, duplicates)
        return providers


def load_providers(path: Path) -> list[ProviderRecord]:
    return load_model(path, Registry, PolicyError).providers


@dataclass(frozen=True)
class ProviderLoad:
    """A provider with its current load, as the routing service counts it."""

    record: ProviderRecord
    active: int  # engagements open now
    assigned_total: int  # engagements ever assigned
    last_assigned_at: datetime | None = None  # when it was last given a request: ties go to the longest without

    def __post_init__(self) -> None:
        if self.active < 0 or self.assigned_total < 0:
            raise ValueError(f"{self.record.provider_id}: load counts cannot be negative")
