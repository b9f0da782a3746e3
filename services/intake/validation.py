"""Inbound records parsed into requests or field errors (pure), and what the contract's types let through but
PostgreSQL cannot store: the NUL character. Found here, it is a field error for the submitter rather than a
failed transaction (a 500, or on the inbound topic a batch retried forever)."""

from collections.abc import Mapping
from typing import Any

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
    return unstorable_strings(request) or request


def unstorable_strings(request: RequestForAssistance) -> list[FieldError]:
    return [
        FieldError(loc=list(loc), msg="text contains a NUL character", type="string_unstorable")
        for loc in _unstorable_locations(request.model_dump(mode="json"), ())
    ]


def _unstorable_locations(value: Any, loc: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    if isinstance(value, str):
        return [loc] if "\x00" in value else []
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _unstorable_locations(item, (*loc, key))]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _unstorable_locations(item, (*loc, i))]
    return []
