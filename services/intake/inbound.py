"""Kafka intake: other systems put requests on the inbound topic; valid ones are accepted as if posted,
invalid ones are answered on the rejection topic with the publisher's correlation id and field errors."""

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from aiokafka.structs import ConsumerRecord

from services.intake import SERVICE, store
from services.intake.domain.submissions import parse_submission
from services.intake.settings import IntakeSettings
from shared.contract.envelope import Envelope
from shared.contract.events import FieldError, SubmissionRejected
from shared.contract.ids import derived_id
from shared.runtime.consumer import apply_isolating, dead_letter
from shared.runtime.outbox import UnitOfWork

_REJECTION_NAMESPACE = UUID("0b6c4a52-5f0e-4d7e-a1c9-2f5e8a9d3b17")


class InboundSubmissions:
    service = SERVICE

    def __init__(self, pool: asyncpg.Pool, settings: IntakeSettings) -> None:
        self._pool = pool
        self._settings = settings

    async def apply_batch(self, records: Sequence[ConsumerRecord]) -> None:
        failed = await apply_isolating(self._pool, self.service, records, self._apply_all)
        await dead_letter(
            self._pool, self.service, [(record, f"could not be accepted: {exc!r}") for record, exc in failed]
        )

    async def _apply_all(self, uow: UnitOfWork, records: Sequence[ConsumerRecord]) -> None:
        for record in records:
            await self._apply(uow, record)

    async def _apply(self, uow: UnitOfWork, record: ConsumerRecord) -> None:
        headers = {k: _text(v) for k, v in (record.headers or ())}
        parsed = parse_submission(record.value or b"", headers, self._settings.max_body_bytes)
        if isinstance(parsed, list):
            self._reject(uow, record, headers, parsed)
            return
        # A redelivered record carries the same position, hence the same key: it is recognised, not doubled.
        key = headers.get("idempotency-key") or f"kafka:{record.topic}:{record.partition}:{record.offset}"
        try:
            await store.accept(
                uow,
                parsed,
                "kafka",
                idempotency_key=key,
                key_ttl=self._settings.idempotency_key_ttl,
                correlation_id=headers.get("correlation-id"),
            )
        except store.IdempotencyConflict:
            conflict = FieldError(
                loc=["headers", "idempotency-key"],
                msg="key already used with a different request",
                type="idempotency_conflict",
            )
            self._reject(uow, record, headers, [conflict])

    def _reject(
        self, uow: UnitOfWork, record: ConsumerRecord, headers: dict[str, str], errors: list[FieldError]
    ) -> None:
        correlation_id = headers.get("correlation-id")
        rejection = SubmissionRejected(
            submission_key=_text(record.key) if record.key else None,
            publisher_correlation_id=correlation_id,
            errors=errors,
            rejected_at=datetime.now(UTC),
        )
        envelope = Envelope.wrap(rejection, source=self.service, correlation_id=correlation_id or "inbound-rejection")
        # One answer per inbound record, however often it is redelivered.
        event_id = derived_id(_REJECTION_NAMESPACE, record.topic, record.partition, record.offset, separator=":")
        uow.publish(envelope.model_copy(update={"event_id": event_id}))


def _text(raw: bytes | None) -> str:
    """Publisher bytes as text PostgreSQL can store: invalid UTF-8 and NUL become U+FFFD."""
    return (raw or b"").decode("utf-8", "replace").replace("\x00", "\ufffd")
