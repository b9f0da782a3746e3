"""Posted forms: read within limits before parsing (the same 413/415/422 discipline as the JSON API, answered
as pages), and pydantic's errors turned into one message per field for the form macros."""

from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, status
from pydantic import ValidationError
from starlette.datastructures import FormData

from shared.contract.validation import error_location, error_message

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 500


async def read_form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> FormData:
    """The fields of a posted HTML form (urlencoded: no uploads). Refuses another content type (415), a body
    larger than `max_bytes` (413, read no further than one chunk past it) and one that does not decode (422)."""
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != FORM_TYPE:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "This page accepts forms sent by a browser.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"The form is larger than {max_bytes // 1024} KiB: shorten it."
            )
    try:
        fields = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "The form could not be read: send it again from the page."
        ) from None
    return FormData(fields)


def field_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> dict[str, str]:
    """One message per field, the first pydantic gives, keyed by the field's id (its dotted location, as the
    API names it: `contact.email`), in the order of the errors, for the error summary and beside each field."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        errors.setdefault(error_location((*prefix, *error["loc"])), error_message(error))
    return errors
