import json
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import NoDecode

from services.intake.domain.signin import Limit, SignInLimits, normalized
from services.intake.domain.submissions import SubmissionLimits
from shared.runtime.auth import DEV_SERVICE_KEY
from shared.runtime.settings import ServiceSettings


def parse_staff_emails(value: Any) -> dict[str, str]:
    """`CRI_STAFF_EMAILS`: JSON {"<address>": "<name>"}, or empty for nobody; addresses compared in lower case."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ValueError(f"CRI_STAFF_EMAILS is not valid JSON ({exc})") from None
    if not isinstance(value, dict) or not all(isinstance(name, str) for name in value.values()):
        raise ValueError('CRI_STAFF_EMAILS must be a JSON object: {"<address>": "<name>"}')
    return {normalized(email): name for email, name in value.items()}


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
    public_url: str = Field(
        default="",
        description="Where people reach intake's pages, for the links in emails; empty: http://<http_host>:<http_port>.",
    )
    # NoDecode: parse_staff_emails reads the JSON itself, so an empty value (compose's unset) means nobody.
    staff_emails: Annotated[dict[str, str], NoDecode, BeforeValidator(parse_staff_emails)] = Field(
        default_factory=dict,
        description='Program staff who sign in, JSON {"<address>": "<name>"}; the embedded stack sets one.',
    )
    signin_link_ttl: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0), description="A link's life.")
    session_ttl: timedelta = Field(default=timedelta(hours=12), gt=timedelta(0), description="A session's life.")
    signin_limit_per_address: int = Field(default=5, ge=1, description="Links one address may ask for per window.")
    signin_limit_per_client: int = Field(default=30, ge=1, description="Links one client may ask for per window.")
    signin_limit_window: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    signin_purge_interval: timedelta = Field(
        default=timedelta(minutes=10), gt=timedelta(0), description="How often ended sessions and links are deleted."
    )

    @property
    def link_base(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def signin_limits(self) -> SignInLimits:
        return SignInLimits(
            per_address=Limit(self.signin_limit_per_address, self.signin_limit_window),
            per_client=Limit(self.signin_limit_per_client, self.signin_limit_window),
        )

    engagements_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The engagements service's base URL, where my-requests pages read assessments' recommendations.",
    )
    engagements_api_key: SecretStr = Field(
        default=SecretStr(DEV_SERVICE_KEY),
        description="A service key of CRI_API_KEYS that intake presents to engagements to read recommendations.",
    )
    # Abuse controls of the public request form (docs/intake.md, "The public request form").
    pending_submission_ttl: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        description="How long a form's request waits for its confirmation.",
    )
    submission_limit_window: timedelta = Field(
        default=timedelta(hours=1), gt=timedelta(0), description="The window the form's limits count in."
    )
    submission_limit_per_address: int = Field(
        default=3, ge=1, description="Unconfirmed form requests one contact address may have within the window."
    )
    submission_limit_per_client: int = Field(
        default=20,
        ge=1,
        description="Unconfirmed form requests one client (network address) may send within the window.",
    )

    @property
    def submission_limits(self) -> SubmissionLimits:
        return SubmissionLimits(
            ttl=self.pending_submission_ttl,
            window=self.submission_limit_window,
            per_address=self.submission_limit_per_address,
            per_client=self.submission_limit_per_client,
        )
