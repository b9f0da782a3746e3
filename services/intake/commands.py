"""Intake's use cases: every change to its requests and every event it emits is built here (deleting expired
idempotency keys is the workers' housekeeping). A submission is recorded with its RequestSubmitted (or recognised
as one already recorded), an inbound record that cannot be accepted is answered with a SubmissionRejected, a
downstream event moves its request's status. Each loads what it needs through the store, decides with the domain,
saves, and emits through the outbox of the caller's transaction.

They take plain values and raise the exceptions below, so every edge maps them to its own answer: the JSON API to
a status code, the inbound topic to a rejection, an HTML form to the page it shows again. HTTP submissions reach
`submit_request` through the group commit, which shares one transaction among those that arrive together."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from uuid import UUID, uuid4

from services.intake import SERVICE
from services.intake.domain.status import StatusChange, status_change
from services.intake.domain.submissions import agency_key, fingerprint, parse_submission
from services.intake.store import KeyUse
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import FieldError, RequestSubmitted, SubmissionRejected
from shared.contract.ids import derived_id
from shared.contract.requests import RequestForAssistance
from shared.runtime.auth import Principal, Role

_REJECTION_NAMESPACE = UUID("0b6c4a52-5f0e-4d7e-a1c9-2f5e8a9d3b17")


class Store(Protocol):
    """What the commands read and write (`store.PostgresStore` in the caller's transaction)."""

    async def claim_key(self, key: str, body_sha256: bytes, request_id: UUID, ttl: timedelta) -> KeyUse | None: ...

    async def point_key(self, key: str, request_id: UUID) -> None: ...

    async def record_request(self, submitted: RequestSubmitted, *, event_id: UUID, agency_key: str) -> UUID: ...

    async def record_status(self, request_id: UUID, event_id: UUID, at: datetime, change: StatusChange) -> None: ...


class Outbox(Protocol):
    """Where events go: written with the transaction's changes, published once it commits (`UnitOfWork`)."""

    def publish(self, envelope: Envelope) -> None: ...


@dataclass(frozen=True, slots=True)
class Acceptance:
    """A submission's answer: its request, and whether it had been recorded before."""

    request_id: UUID
    replayed: bool


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """A record of the inbound topic, its key and headers as text; its position names it however often it is
    redelivered."""

    value: bytes
    headers: Mapping[str, str]
    key: str | None
    topic: str
    partition: int
    offset: int


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different body."""


class NotYours(PermissionError):
    """A known caller acting for another agency (submitting for it, reading its request)."""


def ensure_acts_for(principal: Principal, agency: str, refusal: str) -> None:
    """Agencies act for themselves only (their key's subject is their agency key); other systems and staff for any."""
    if principal.role is Role.AGENCY and agency != principal.subject:
        raise NotYours(refusal)


async def submit_request(
    store: Store,
    outbox: Outbox,
    request: RequestForAssistance,
    channel: Literal["http", "kafka"],
    *,
    idempotency_key: str | None,
    key_ttl: timedelta,
    correlation_id: str | None = None,
) -> Acceptance:
    """Record a request and emit its RequestSubmitted, or recognise it as recorded already: the same idempotency
    key with the same body (a key used with another body is an IdempotencyConflict), or the same agency's client
    reference."""
    request_id = uuid4()
    if idempotency_key is not None:
        body = fingerprint(request)
        first = await store.claim_key(idempotency_key, body, request_id, key_ttl)
        if first is not None:
            if first.body_sha256 != body:
                raise IdempotencyConflict(idempotency_key)
            return Acceptance(first.request_id, replayed=True)
    event = RequestSubmitted(request_id=request_id, submitted_at=datetime.now(UTC), channel=channel, request=request)
    envelope = Envelope.wrap(event, source=SERVICE, correlation_id=correlation_id or str(request_id))
    recorded = await store.record_request(event, event_id=envelope.event_id, agency_key=agency_key(request.agency))
    if recorded != request_id:  # the agency sent this client reference before
        if idempotency_key is not None:
            await store.point_key(idempotency_key, recorded)
        return Acceptance(recorded, replayed=True)
    outbox.publish(envelope)
    return Acceptance(request_id, replayed=False)


async def submit_inbound(
    store: Store, outbox: Outbox, record: InboundRecord, *, max_bytes: int, key_ttl: timedelta
) -> None:
    """Accept an inbound record as if posted (channel kafka), or answer it with a SubmissionRejected."""
    parsed = parse_submission(record.value, record.headers, max_bytes)
    if isinstance(parsed, list):
        _reject(outbox, record, parsed)
        return
    # A redelivered record carries the same position, hence the same key: it is recognised, not doubled.
    key = record.headers.get("idempotency-key") or f"kafka:{record.topic}:{record.partition}:{record.offset}"
    try:
        await submit_request(
            store,
            outbox,
            parsed,
            "kafka",
            idempotency_key=key,
            key_ttl=key_ttl,
            correlation_id=record.headers.get("correlation-id"),
        )
    except IdempotencyConflict:
        conflict = FieldError(
            loc=["headers", "idempotency-key"],
            msg="key already used with a different request",
            type="idempotency_conflict",
        )
        _reject(outbox, record, [conflict])


def _reject(outbox: Outbox, record: InboundRecord, errors: list[FieldError]) -> None:
    correlation_id = record.headers.get("correlation-id")
    rejection = SubmissionRejected(
        submission_key=record.key,
        publisher_correlation_id=correlation_id,
        errors=errors,
        rejected_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(rejection, source=SERVICE, correlation_id=correlation_id or "inbound-rejection")
    # One answer per inbound record, however often it is redelivered.
    event_id = derived_id(_REJECTION_NAMESPACE, record.topic, record.partition, record.offset, separator=":")
    outbox.publish(envelope.model_copy(update={"event_id": event_id}))


async def track_status(store: Store, envelope: Envelope, event: EventData) -> None:
    """Move a request's status with a downstream event intake follows, and add the event to its timeline."""
    await store.record_status(
        event.request_id,  # type: ignore[attr-defined]
        envelope.event_id,
        envelope.occurred_at,
        status_change(event),
    )
