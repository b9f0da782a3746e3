"""HTTP bodies intake's JSON API refuses before parsing them: not JSON (415), larger than the documented limit
(413)."""

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def too_large(limit: int) -> tuple[int, str]:
    return 413, f"request body is larger than {limit} bytes"


def refusal(method: str, content_type: str | None, content_length: str | None, limit: int) -> tuple[int, str] | None:
    """The status and reason to refuse a request on its headers alone, or None to read its body."""
    if method not in _BODY_METHODS:
        return None
    if (content_type or "").split(";", 1)[0].strip().lower() != "application/json":
        return 415, "Content-Type must be application/json"
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        return too_large(limit)
    return None


class BodyLimits:
    """ASGI middleware: refuses on the headers, then reads at most one chunk past the limit, so a client that
    lies about (or omits) Content-Length cannot make intake buffer more than that."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The JSON API only: pages read their forms within the same limits themselves and answer with pages
        # (shared.runtime.web.forms.read_form).
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"]
        refused = refusal(method, headers.get("content-type"), headers.get("content-length"), self.max_body_bytes)
        if refused is None and method in _BODY_METHODS:
            body, refused = await self._read_bounded(receive)
            receive = _replay(body, receive)
        if refused is not None:
            status, detail = refused
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _read_bounded(self, receive: Receive) -> tuple[bytes, tuple[int, str] | None]:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"", None  # the client went away; the app sees an empty body and nobody reads the answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", too_large(self.max_body_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands the app the body already read, then the client's later messages."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
