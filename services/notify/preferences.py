"""Recipients' preferences from a YAML file, read and validated once at start: a bad file stops the service
with the reason instead of sending what someone opted out of.

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

import yaml
from pydantic import ValidationError

from services.notify.messages import Preferences


class PreferencesError(ValueError):
    """The preferences file cannot be read or is invalid; the message says where."""


def load_preferences(path: Path | None) -> Preferences:
    """The preferences in `path`; without a file, everyone gets the default channels."""
    if path is None:
        return Preferences()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise PreferencesError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise PreferencesError(f"{path}: not YAML: {exc}") from exc
    try:
        return Preferences.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        )
        raise PreferencesError(f"{path}: {problems}") from exc
