from datetime import timedelta

from pydantic import Field

from shared.runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    idempotency_key_ttl: timedelta = Field(default=timedelta(hours=24), description="How long keys are kept.")
    idempotency_purge_interval: timedelta = Field(
        default=timedelta(minutes=10), gt=timedelta(0), description="How often expired keys are deleted."
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1, description="Larger request bodies are refused with 413.")
    public_base_url: str = Field(default="", description="Prefix of status URLs; empty means relative URLs.")
    group_commit_max: int = Field(
        default=64, ge=1, description="Most HTTP submissions recorded in one transaction (group commit)."
    )
    group_commit_writers: int = Field(default=2, ge=1, description="Transactions of submissions in flight at once.")
