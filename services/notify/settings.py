import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import NoDecode

from shared.runtime.settings import ServiceSettings


def parse_webhook_secrets(value: Any) -> dict[str, SecretStr]:
    """`CRI_WEBHOOK_SECRETS`: JSON {"<receiver URL>": "<its signing secret>"}, or empty for none."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ValueError(f"CRI_WEBHOOK_SECRETS is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(value, dict) or not all(
        isinstance(url, str) and isinstance(secret, str | SecretStr) for url, secret in value.items()
    ):
        raise ValueError('CRI_WEBHOOK_SECRETS must be a JSON object: {"<receiver URL>": "<secret>"}')
    return {url: SecretStr(secret) if isinstance(secret, str) else secret for url, secret in value.items()}


class NotifySettings(ServiceSettings):
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_use_tls: bool = Field(default=False, description="Implicit TLS (SMTPS).")
    smtp_start_tls: bool = Field(default=False, description="Upgrade with STARTTLS.")
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_s: float = 10.0
    # Each email is a conversation of 4 round trips; enough of them in flight hide the wait for each answer.
    smtp_sessions: int = Field(default=32, ge=1, description="SMTP sessions kept open and reused.")
    mail_from: str = "CRI Exchange <no-reply@cri-exchange.example.org>"
    staff_name: str = "CRI program staff"
    staff_email: str | None = "cri-staff@cops.example.gov"
    # Empty (compose passes the variable through whether it is set or not): no staff webhook.
    staff_webhook_url: Annotated[str | None, BeforeValidator(lambda url: url or None)] = None
    preferences_file: Path | None = Field(
        default=None, description="YAML of channel preferences, opt-outs and provider webhooks (none: defaults)."
    )
    # NoDecode: parse_webhook_secrets reads the JSON itself (and never echoes a secret in its errors).
    webhook_secrets: Annotated[dict[str, SecretStr], NoDecode, BeforeValidator(parse_webhook_secrets)] = Field(
        default_factory=dict,
        description='HMAC-SHA256 key of each webhook receiver, JSON {"<receiver URL>": "<secret>"}: the staff '
        "webhook and every provider webhook needs its own (notify refuses to start otherwise).",
    )
    webhook_timeout_s: float = 5.0
    max_attempts: int = Field(default=8, ge=1)
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_cap_s: float = Field(default=300.0, gt=0)
    dispatch_batch: int = Field(default=128, ge=1, description="Deliveries claimed, sent and settled together.")
    parked_sweep_s: float = Field(
        default=1.0, gt=0, description="How often parked events of requests remembered meanwhile are looked for."
    )
    dispatch_lease_s: float = Field(default=60.0, gt=0, description="How long a claimed delivery is held.")
