"""What intake consumes, mapped to its commands: the downstream events it follows move a request's status (a
routed request also names its provider's mailbox, for the provider's sign-in); records of the inbound topic (other
systems' submissions, no envelope) are accepted as if posted, or rejected."""

from collections.abc import Sequence

import asyncpg
from aiokafka.structs import ConsumerRecord

from services.intake import SERVICE, commands
from services.intake.domain.status import FOLLOWED_EVENTS
from services.intake.settings import IntakeSettings
from services.intake.store import PostgresSignIn, PostgresStore
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import RequestRouted
from shared.runtime.consumer import EventHandler, apply_isolating, dead_letter
from shared.runtime.outbox import UnitOfWork


async def on_followed_event(uow: UnitOfWork, envelope: Envelope, event: EventData) -> None:
    await commands.track_status(PostgresStore(uow.conn), envelope, event)


async def on_request_routed(uow: UnitOfWork, envelope: Envelope, event: RequestRouted) -> None:
    await commands.note_routing(PostgresStore(uow.conn), PostgresSignIn(uow.conn), envelope, event)


STATUS_HANDLERS: dict[type[EventData], EventHandler] = {
    **dict.fromkeys(FOLLOWED_EVENTS, on_followed_event),
    RequestRouted: on_request_routed,
}


class InboundSubmissions:
    """Applies a batch of inbound records in one transaction, their requests recorded by one statement; a record
    that fails for another reason than the infrastructure is dead-lettered alone."""

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
        await commands.submit_inbound(
            PostgresStore(uow.conn),
            uow,
            [_inbound(record) for record in records],
            max_bytes=self._settings.max_body_bytes,
            key_ttl=self._settings.idempotency_key_ttl,
        )


def _inbound(record: ConsumerRecord) -> commands.InboundRecord:
    return commands.InboundRecord(
        value=record.value or b"",
        headers={k: _text(v) for k, v in (record.headers or ())},
        key=_text(record.key) if record.key else None,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )


def _text(raw: bytes | None) -> str:
    """Publisher bytes as text PostgreSQL can store: invalid UTF-8 and NUL become U+FFFD."""
    return (raw or b"").decode("utf-8", "replace").replace("\x00", "\ufffd")
