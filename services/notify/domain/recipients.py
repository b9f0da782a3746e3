"""Who can be told: the agency contact, a provider or program staff, each with the addresses known for it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["agency", "provider", "staff"]
Channel = Literal["email", "webhook"]
CHANNELS: tuple[Channel, ...] = ("email", "webhook")


class Recipient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    name: str
    email: str | None = None
    webhook_url: str | None = None

    def address(self, channel: Channel) -> str | None:
        return self.email if channel == "email" else self.webhook_url
