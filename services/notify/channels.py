"""Notify's edge to its receivers: a rendered message sent by email over SMTP or as a signed webhook over HTTP,
each failure classified (`DeliveryFailed`, permanent or not)."""

import base64
import time
from collections.abc import Mapping
from email.header import Header
from email.utils import parseaddr
from uuid import UUID

import aiosmtplib
import httpx

from services.notify.domain.deliveries import DeliveryFailed
from services.notify.domain.planning import PlannedNotification
from services.notify.domain.rendering import RenderedMessage
from services.notify.domain.signatures import sign
from services.notify.domain.webhooks import webhook_body
from services.notify.settings import NotifySettings
from services.notify.smtp import SmtpSessions

SIGNATURE_HEADER = "X-CRI-Signature"
DELIVERY_HEADER = "X-CRI-Delivery-Id"


def compose_email(sender: str, recipient: str, delivery_id: UUID, rendered: RenderedMessage) -> bytes:
    """The MIME message of one email, as sent: plain text and HTML alternatives, each utf-8 in base64.

    Written out directly: the `email` package's classes and generator cost notify a quarter of its time (building
    header objects, folding, flattening), for a message whose shape never changes. Received messages (and tests)
    can dedupe on the delivery id, which is also the Message-ID and makes the boundary (base64 has no "_" or ".")."""
    boundary = f"=_cri.{delivery_id.hex}"
    lines = [
        f"From: {_header(sender)}",
        f"To: {_header(recipient)}",
        f"Subject: {_header(rendered.subject)}",
        f"Message-ID: <{delivery_id}@cri-exchange>",
        f"{DELIVERY_HEADER}: {delivery_id}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
    ]
    for subtype, body in (("plain", rendered.text), ("html", rendered.html)):
        lines += [
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
            "",
            base64.encodebytes(body.encode()).decode().replace("\n", "\r\n").rstrip(),
        ]
    lines += [f"--{boundary}--", ""]
    return "\r\n".join(lines).encode("ascii")


def _header(value: str) -> str:
    """A header's value, RFC 2047-encoded only when it must be (an agency's name may well be plain ASCII)."""
    return value if value.isascii() else Header(value, "utf-8").encode(linesep="\r\n")


class Channels:
    def __init__(
        self, settings: NotifySettings, http: httpx.AsyncClient, smtp: SmtpSessions, secrets: Mapping[str, str]
    ) -> None:
        """`secrets`: each webhook receiver's own signing secret, by URL (domain.signatures.receiver_secrets)."""
        self._settings = settings
        self._secrets = secrets
        self._http = http
        self._smtp = smtp
        self._envelope_sender = parseaddr(settings.mail_from)[1]

    async def deliver(self, delivery_id: UUID, planned: PlannedNotification, rendered: RenderedMessage) -> None:
        if planned.channel == "email":
            await self._email(delivery_id, planned, rendered)
        else:
            await self._webhook(delivery_id, planned, rendered)

    async def _email(self, delivery_id: UUID, planned: PlannedNotification, rendered: RenderedMessage) -> None:
        message = compose_email(self._settings.mail_from, planned.address, delivery_id, rendered)
        try:
            await self._smtp.send(message, self._envelope_sender, planned.address)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            answer = "; ".join(refusal.message for refusal in exc.recipients)
            raise DeliveryFailed(
                f"SMTP refused the recipient: {codes}", permanent=min(codes) >= 500, answer=answer
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx: the server asks us to come back later; 5xx: it will never take this message.
            raise DeliveryFailed(f"SMTP {exc.code}", permanent=exc.code >= 500, answer=exc.message) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryFailed("SMTP server unreachable", permanent=False, answer=repr(exc)) from exc

    async def _webhook(self, delivery_id: UUID, planned: PlannedNotification, rendered: RenderedMessage) -> None:
        secret = self._secrets.get(planned.address)
        if secret is None:  # checked at start for every configured receiver; never signed with another's secret
            raise DeliveryFailed("no signing secret of its own for this webhook receiver", permanent=True)
        body = webhook_body(planned, rendered)
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: str(delivery_id),
            SIGNATURE_HEADER: sign(body, secret, int(time.time())),
        }
        try:
            response = await self._http.post(
                planned.address, content=body, headers=headers, timeout=self._settings.webhook_timeout_s
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed("webhook unreachable", permanent=False, answer=repr(exc)) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryFailed(f"webhook answered {response.status_code}", permanent=False)
        if response.status_code >= 400:
            raise DeliveryFailed(f"webhook refused with {response.status_code}", permanent=True)
