"""Inbound records parsed into requests or field errors (pure), exactly as the HTTP body is validated."""

from collections.abc import Mapping

from pydantic import ValidationError

from shared.contract.events import FieldError
from shared.contract.requests import RequestForAssistance

MAX_KEY_CHARS = 200  # the HTTP Idempotency-Key header's bound, applied to the inbound topic's header too


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
        return [FieldError(loc=list(e["loc"]), msg=e["msg"], type=e["type"]) for e in exc.errors(include_url=False)]
    return request
