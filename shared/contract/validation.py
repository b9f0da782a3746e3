"""How a pydantic validation error is told to people, the same everywhere: API answers, rejections on the
inbound topic, dead-letter reasons, data files and configuration."""

from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails


def error_location(loc: Sequence[str | int]) -> str:
    """`assistance.topic_areas.0`, or `(top level)` for the value as a whole."""
    return ".".join(map(str, loc)) or "(top level)"


def error_message(error: ErrorDetails) -> str:
    """The message without pydantic's `Value error, ` prefix (our validators' messages are written for people)."""
    return error["msg"].removeprefix("Value error, ")


def describe(exc: ValidationError, *, limit: int | None = None) -> str:
    """`<location>: <message>` for each error (the first `limit` when given), joined by `; `."""
    errors = exc.errors(include_url=False)
    return "; ".join(f"{error_location(e['loc'])}: {error_message(e)}" for e in errors[:limit])
