"""One envelope for every event; consumers dedupe on `event_id`."""

from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field


class EventData(BaseModel):
    """Base of every event payload. Subclasses name their type, version and topic once, here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    topic: ClassVar[str]

    def partition_key(self) -> str:
        raise NotImplementedError


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4, description="Unique id; consumers dedupe on it.")
    type: str = Field(description="Event type, past tense.", examples=["RequestSubmitted"])
    version: int = Field(ge=1, description="Version of the payload schema for this type.")
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str = Field(description="Service that published the event.", examples=["intake"])
    key: str = Field(description="Partition key; events with one key keep their order.")
    correlation_id: str = Field(description="Id shared by every event caused by one request for assistance.")
    causation_id: UUID | None = Field(default=None, description="event_id of the event that caused this one.")
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        data: EventData,
        *,
        source: str,
        correlation_id: str,
        causation: "Envelope | None" = None,
    ) -> Self:
        return cls(
            type=data.event_type,
            version=data.event_version,
            source=source,
            key=data.partition_key(),
            correlation_id=correlation_id,
            causation_id=causation.event_id if causation else None,
            data=data.model_dump(mode="json"),
        )

    def follow(self, data: EventData, *, source: str) -> "Envelope":
        """An event caused by this one: same correlation id, causation pointing here."""
        return Envelope.wrap(data, source=source, correlation_id=self.correlation_id, causation=self)
