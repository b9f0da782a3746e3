"""How a webhook is signed, and how its receiver checks it: header `t=<unix seconds>,v1=<hex HMAC-SHA256>` of
the bytes `"<t>." + body`, keyed with the receiver's own secret (docs/notify.md shows receivers the same
`verify`); and the rule that every configured receiver has a secret of its own."""

import hashlib
import hmac
from collections.abc import Mapping


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


MIN_SECRET_LENGTH = 16


class WebhookSecretsError(ValueError):
    """A configured webhook receiver has no signing secret of its own; the message names each problem."""


def receiver_secrets(receivers: Mapping[str, str | None], secrets: Mapping[str, str]) -> dict[str, str]:
    """The signing secret of each configured receiver (URL -> secret), from `receivers` (who -> URL: staff,
    each provider with a webhook) and `secrets` (URL -> secret, `CRI_WEBHOOK_SECRETS`).

    One secret per receiver, not one for all: a receiver verifies with its own secret, so one receiver's secret
    cannot forge another's webhooks. Raises WebhookSecretsError when a configured receiver has no secret, has
    one shorter than MIN_SECRET_LENGTH, or shares its secret with another receiver. Secrets of URLs no
    receiver uses are left out (the caller may warn about them).
    """
    urls: dict[str, list[str]] = {}
    for who, url in receivers.items():
        if url:
            urls.setdefault(url, []).append(who)
    problems = []
    for url, whos in urls.items():
        secret = secrets.get(url)
        if not secret:
            problems.append(f"{' and '.join(whos)} ({url}) has no signing secret in CRI_WEBHOOK_SECRETS")
        elif len(secret) < MIN_SECRET_LENGTH:
            problems.append(f"the signing secret of {url} is shorter than {MIN_SECRET_LENGTH} characters")
    sharing: dict[str, list[str]] = {}
    for url in sorted(urls):
        if secrets.get(url):
            sharing.setdefault(secrets[url], []).append(url)
    problems += [
        f"receivers {', '.join(shared)} share one signing secret: each needs its own"
        for shared in sharing.values()
        if len(shared) > 1
    ]
    if problems:
        raise WebhookSecretsError("; ".join(problems))
    return {url: secrets[url] for url in urls}
