"""What a webhook POST carries: the rendered message and the ids of the delivery and its cause, never the
agency contact (webhook contexts were built without it, see `confidentiality`)."""

import json

from services.notify.domain.deliveries import delivery_id
from services.notify.domain.planning import PlannedNotification
from services.notify.domain.rendering import RenderedMessage


def webhook_body(notification: PlannedNotification, rendered: RenderedMessage) -> bytes:
    """Canonical JSON (sorted keys, no spaces) so that a signature covers exactly these bytes."""
    if notification.channel != "webhook":
        # Email contexts may hold confidential text; only webhook contexts were built to leave the building.
        raise ValueError(f"{notification.kind} was planned for {notification.channel}, not webhook")
    body = {
        "kind": notification.kind,
        "role": notification.recipient.role,
        "subject": rendered.subject,
        "text": rendered.text,
        "delivery_id": str(delivery_id(notification.cause_event_id, notification.recipient, "webhook")),
        "cause_event_id": str(notification.cause_event_id),
        "cause_event_type": notification.cause_event_type,
        "request_id": str(notification.request_id) if notification.request_id else None,
        "engagement_id": str(notification.engagement_id) if notification.engagement_id else None,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
