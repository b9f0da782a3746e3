"""Group commit: how HTTP submissions (the JSON API's, or any other HTTP handler's) reach
`commands.submit_requests`. Those that arrive together are recorded in one transaction, by one statement.

Each one pays a share of BEGIN, COMMIT, the WAL flush and the outbox write instead of all of them, and each
caller still gets its answer only once its request is committed. One bad submission does not fail the others:
the group is then applied one submission per transaction (`apply_isolating`)."""

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from opentelemetry import context as otel_context

from services.intake import SERVICE
from services.intake.commands import Acceptance, IdempotencyConflict, Incoming, submit_requests
from services.intake.store import PostgresStore
from shared.contract.envelope import Envelope
from shared.contract.requests import RequestForAssistance
from shared.runtime.consumer import TRANSIENT_ERRORS, apply_isolating
from shared.runtime.outbox import UnitOfWork

log = logging.getLogger(__name__)
_CONFLICT_ATTEMPTS = 3


class NotRecorded(Exception):
    """The database could not take the group (unreachable, restarting): nothing of it was recorded, and the
    submission may be sent again (with the same Idempotency-Key, it is never recorded twice)."""


@dataclass(eq=False)
class Submission:
    request: RequestForAssistance
    idempotency_key: str | None
    answer: asyncio.Future[Acceptance] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    # The caller's trace, so the request's events carry it although a writer task records it.
    trace: Any = field(default_factory=otel_context.get_current)


class GroupCommit:
    def __init__(self, key_ttl: timedelta, *, max_group: int, writers: int) -> None:
        self._key_ttl = key_ttl
        self._max_group = max_group
        self._writers = writers
        self._waiting: asyncio.Queue[Submission] = asyncio.Queue()

    async def submit(self, request: RequestForAssistance, idempotency_key: str | None) -> Acceptance:
        """Record a submission with the next group: its Acceptance once committed. Raises IdempotencyConflict,
        or NotRecorded when nothing could be recorded."""
        submission = Submission(request, idempotency_key)
        self._waiting.put_nowait(submission)
        return await submission.answer

    async def run(self, pool: asyncpg.Pool) -> None:
        """The writers: each takes whatever has arrived (up to a group) and commits it. Several writers keep the
        database busy while one waits for its commit."""
        await asyncio.gather(*(self._write_groups(pool) for _ in range(self._writers)))

    async def _write_groups(self, pool: asyncpg.Pool) -> None:
        while True:
            group = [await self._waiting.get()]
            while len(group) < self._max_group and not self._waiting.empty():
                group.append(self._waiting.get_nowait())
            try:
                await self.commit(pool, group)
            except Exception as exc:  # noqa: BLE001 - every caller of the group must hear, each with its own error
                if not isinstance(exc, TRANSIENT_ERRORS):
                    log.exception("a group of %d submissions was not recorded", len(group))
                for submission in group:
                    if not submission.answer.done():
                        submission.answer.set_exception(NotRecorded(f"database unavailable: {exc!r}"))

    async def commit(self, pool: asyncpg.Pool, group: list[Submission]) -> None:
        """A group locks its keys and requests in one order, so two groups in flight only wait for each other;
        another transaction locking some of them in another order (the purge of expired keys) can deadlock with
        it, and PostgreSQL then aborts one: a group aborted so is tried again (nothing of it was answered:
        answers go out on commit only)."""
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                return await self._commit_once(pool, group)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == _CONFLICT_ATTEMPTS:
                    raise
                log.info("a group of %d submissions met another; trying it again", len(group))

    async def _commit_once(self, pool: asyncpg.Pool, group: list[Submission]) -> None:
        failed = await apply_isolating(pool, SERVICE, group, self._record)
        for submission, exc in failed:
            if not submission.answer.done():
                submission.answer.set_exception(exc)

    async def _record(self, uow: UnitOfWork, group: list[Submission]) -> None:
        incoming = [
            Incoming(s.request, "http", _InTrace(uow, s.trace), idempotency_key=s.idempotency_key) for s in group
        ]
        answers = await submit_requests(PostgresStore(uow.conn), incoming, key_ttl=self._key_ttl)
        # Answers go out only if this transaction commits; if it rolls back, the group is tried again.
        uow.after_commit(lambda: _answer(zip(group, answers, strict=True)))


@dataclass(frozen=True, slots=True)
class _InTrace:
    """The group's outbox as one caller's: its request's events are written under that caller's trace."""

    outbox: UnitOfWork
    trace: Any

    def publish(self, envelope: Envelope) -> None:
        token = otel_context.attach(self.trace)
        try:
            self.outbox.publish(envelope)
        finally:
            otel_context.detach(token)


def _answer(outcomes: Iterable[tuple[Submission, Acceptance | IdempotencyConflict]]) -> None:
    for submission, outcome in outcomes:
        if submission.answer.done():  # the caller went away
            continue
        if isinstance(outcome, IdempotencyConflict):
            submission.answer.set_exception(outcome)
        else:
            submission.answer.set_result(outcome)
