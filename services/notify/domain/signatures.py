"""How a webhook is signed, and how its receiver checks it: header `t=<unix seconds>,v1=<hex HMAC-SHA256>` of
the bytes `"<t>." + body`, keyed with the shared secret (docs/notify.md shows receivers the same `verify`)."""

import hashlib
import hmac


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """Signature header value `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`."""
    return f"t={timestamp},v1={_mac(body, secret, timestamp)}"


def verify(body: bytes, header: str, secret: str, tolerance_s: float, now: float) -> bool:
    """True when `header` signs `body` with `secret` within `tolerance_s` of `now` (older ones may be replays)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp, signature = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature.encode(), _mac(body, secret, timestamp).encode())


def _mac(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
