from pathlib import Path

from pydantic import Field

from shared.runtime.settings import ServiceSettings


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
    staff_webhook_url: str | None = None
    preferences_file: Path | None = Field(
        default=None, description="YAML of channel preferences, opt-outs and provider webhooks (none: defaults)."
    )
    webhook_secret: str = Field(default="dev-webhook-secret", description="HMAC-SHA256 key for webhook signatures.")
    webhook_timeout_s: float = 5.0
    max_attempts: int = Field(default=8, ge=1)
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_cap_s: float = Field(default=300.0, gt=0)
    dispatch_batch: int = Field(default=128, ge=1, description="Deliveries claimed, sent and settled together.")
    parked_sweep_s: float = Field(
        default=1.0, gt=0, description="How often parked events of requests remembered meanwhile are looked for."
    )
    dispatch_lease_s: float = Field(default=60.0, gt=0, description="How long a claimed delivery is held.")
