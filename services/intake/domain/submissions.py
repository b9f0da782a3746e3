"""What a submission is, in pure rules: the agency it comes from, when two bodies are the same, an inbound
record parsed into a request or the field errors to answer it with, exactly as the HTTP body is validated, and
how many requests of the public form may wait for their confirmation."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError

from shared.contract.events import FieldError
from shared.contract.requests import Agency, RequestForAssistance
from shared.contract.validation import error_message

MAX_KEY_CHARS = 200  # the HTTP Idempotency-Key header's bound, applied to the inbound topic's header too


@dataclass(frozen=True, slots=True)
class SubmissionLimits:
    """Abuse controls of the public form: how long a request waits for its contact to confirm it, and how many
    may wait per contact address and per client, counted over `window`."""

    ttl: timedelta
    window: timedelta
    per_address: int
    per_client: int

    def exceeded(self, by_address: int, by_client: int) -> bool:
        """Whether one more waiting request (there are already these many in the window) is one too many."""
        return by_address >= self.per_address or by_client >= self.per_client


def agency_key(agency: Agency) -> str:
    """Recognises one agency across submissions: its ORI when it has one, else its name within its state."""
    return f"ori:{agency.ori}" if agency.ori else f"name:{agency.state}:{' '.join(agency.name.lower().split())}"


def fingerprint(request: RequestForAssistance) -> bytes:
    """Digest of the request's canonical JSON, so formatting differences are not 'a different body'."""
    return hashlib.sha256(request.model_dump_json().encode()).digest()


def parse_submission(
    value: bytes, headers: Mapping[str, str], max_bytes: int
) -> RequestForAssistance | list[FieldError]:
    """An inbound record's request, or the field errors to answer it with."""
    if len(value) > max_bytes:
        return [FieldError(loc=[], msg=f"message is larger than {max_bytes} bytes", type="too_large")]
    key = headers.get("idempotency-key")
    if key is not None and len(key) > MAX_KEY_CHARS:
        return [
            FieldError(
                loc=["headers", "idempotency-key"],
                msg=f"longer than {MAX_KEY_CHARS} characters",
                type="string_too_long",
            )
        ]
    try:
        request = RequestForAssistance.model_validate_json(value)
    except ValidationError as exc:
        return [
            FieldError(loc=list(e["loc"]), msg=error_message(e), type=e["type"]) for e in exc.errors(include_url=False)
        ]
    return request
