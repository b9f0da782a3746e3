"""Recipients' preferences: channels and opt-outs per address, and providers' webhooks. Read from a YAML file
(`CRI_PREFERENCES_FILE`) and validated once at start: a bad file stops the service with the reason instead of
sending what someone opted out of.

```yaml
by_address:                      # a recipient's email (or webhook URL when it has no email), any case
  cri-tac@iacp.example.org:
    channels: [email, webhook]   # omitted: email, and webhook where a URL exists
    opted_out: [deadline_missed_provider]
provider_webhooks:               # provider id (as in the routing registry) -> its webhook URL
  iacp: https://hooks.iacp.example.org/cri
```
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from services.notify.domain.kinds import KINDS
from services.notify.domain.recipients import CHANNELS, Channel, Recipient
from shared.runtime.datafiles import DataFileError, load_model


class RecipientPreferences(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: frozenset[Channel] | None = None  # None: the default channels
    opted_out: frozenset[str] = frozenset()  # message kinds

    @field_validator("opted_out")
    @classmethod
    def _known_kinds(cls, opted_out: frozenset[str]) -> frozenset[str]:
        # A misspelt kind would silently opt out of nothing.
        unknown = sorted(opted_out - KINDS)
        if unknown:
            raise ValueError(f"unknown message kinds {unknown}; known: {sorted(KINDS)}")
        return opted_out


class Preferences(BaseModel):
    """Per address (a recipient's email, or its webhook URL when it has no email): channels and opt-outs.

    Without an entry, or without `channels` in it: email for everyone, webhook where a webhook URL exists.
    Events name a provider by id and mailbox only, so a provider's webhook URL comes from `provider_webhooks`
    (provider id -> URL): the id is the provider's stable identity, and it exists even without a mailbox.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    by_address: dict[str, RecipientPreferences] = {}
    provider_webhooks: dict[str, str] = {}

    @field_validator("provider_webhooks")
    @classmethod
    def _http_urls(cls, provider_webhooks: dict[str, str]) -> dict[str, str]:
        for provider_id, url in provider_webhooks.items():
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"webhook of provider {provider_id!r} is not an http(s) URL: {url!r}")
        return provider_webhooks

    @field_validator("by_address")
    @classmethod
    def _case_insensitive(cls, by_address: dict[str, RecipientPreferences]) -> dict[str, RecipientPreferences]:
        return {address.lower(): preferences for address, preferences in by_address.items()}

    def channels_for(self, recipient: Recipient, kind: str) -> list[Channel]:
        own = self.by_address.get((recipient.email or recipient.webhook_url or "").lower(), RecipientPreferences())
        if kind in own.opted_out:
            return []
        default = {"email", "webhook"} if recipient.webhook_url else {"email"}
        allowed = own.channels if own.channels is not None else default
        return [channel for channel in CHANNELS if channel in allowed]


class PreferencesError(DataFileError):
    """The preferences file cannot be read or is invalid; the message says where."""


def load_preferences(path: Path | None) -> Preferences:
    """The preferences in `path`; without a file (or with an empty one), everyone gets the default channels."""
    return Preferences() if path is None else load_model(path, Preferences, PreferencesError, empty={})
