"""Intake's commands against an in-memory store: what is recorded, what is recognised as recorded already, and
which events go out. The SQL itself (retention of keys, concurrent submissions) is proved on PostgreSQL in
tests/integration/test_intake_store.py."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.intake import commands
from services.intake.commands import IdempotencyConflict, InboundRecord, NotYours
from services.intake.domain.status import StatusChange
from services.intake.domain.submissions import agency_key
from services.intake.store import KeyUse, NewRequest
from shared.contract.envelope import Envelope
from shared.contract.events import RequestContactGiven, RequestQueued, RequestReceived, SubmissionRejected
from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Tier
from shared.runtime.auth import Principal, Role
from tests.support import sample_request, unique

TTL = timedelta(hours=24)


# What one accepted request emits.
ACCEPTED = ["RequestReceived", "RequestContactGiven"]


class MemoryStore:
    """Intake's tables as dictionaries; keys never expire here."""

    def __init__(self) -> None:
        self.keys: dict[str, KeyUse] = {}
        self.requests: dict[UUID, tuple[str, str | None]] = {}  # request_id -> (agency key, client reference)
        self.statuses: list[tuple[UUID, UUID, str]] = []
        self.calls = 0  # of record_requests: once per batch of submissions

    async def record_requests(self, new: Sequence[NewRequest], key_ttl: timedelta) -> list[UUID | KeyUse]:
        self.calls += 1
        recorded: list[UUID | KeyUse] = []
        for n in new:
            if n.key is not None and n.key in self.keys:
                recorded.append(self.keys[n.key])
                continue
            reference = n.request.client_reference
            earlier = [rid for rid, known in self.requests.items() if reference and known == (n.agency_key, reference)]
            request_id = earlier[0] if earlier else n.received.request_id
            self.requests.setdefault(request_id, (n.agency_key, reference))
            if n.key is not None:
                self.keys[n.key] = KeyUse(n.body_sha256 or b"", request_id)
            recorded.append(request_id)
        return recorded

    async def record_status(self, request_id: UUID, event_id: UUID, at: datetime, change: StatusChange) -> None:
        self.statuses.append((request_id, event_id, change.status))


class MemoryOutbox:
    def __init__(self) -> None:
        self.published: list[Envelope] = []

    def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def outbox() -> MemoryOutbox:
    return MemoryOutbox()


def a_request(**overrides: object) -> RequestForAssistance:
    return RequestForAssistance.model_validate(sample_request(**overrides))


async def submit(store, outbox, request: RequestForAssistance, key: str | None = None) -> commands.Acceptance:
    return await commands.submit_request(store, outbox, request, "http", idempotency_key=key, key_ttl=TTL)


def inbound(value: bytes, offset: int = 7, **headers: str) -> InboundRecord:
    """A record at `offset` of partition 3; `correlation_id=` gives the header `correlation-id`."""
    return InboundRecord(
        value=value,
        headers={name.replace("_", "-"): v for name, v in headers.items()},
        key="CASE-1",
        topic="cri.intake.submissions",
        partition=3,
        offset=offset,
    )


async def test_a_new_request_is_recorded_and_its_request_submitted_event_emitted(store, outbox):
    request = a_request()

    accepted = await submit(store, outbox, request)

    assert accepted.replayed is False
    assert store.requests[accepted.request_id][0] == agency_key(request.agency)
    [envelope, contact] = outbox.published
    assert (envelope.type, envelope.source, envelope.key) == ("RequestReceived", "intake", str(accepted.request_id))
    assert envelope.correlation_id == str(accepted.request_id)
    event = RequestReceived.model_validate(envelope.data)
    assert (event.request_id, event.channel, event.request) == (accepted.request_id, "http", request.without_contact())


async def test_the_contact_person_is_published_apart_from_the_request(store, outbox):
    request = a_request()

    accepted = await submit(store, outbox, request)

    received, contact = outbox.published
    assert "contact" not in received.data["request"]
    assert (contact.type, contact.key, contact.correlation_id) == ("RequestContactGiven", received.key, received.key)
    assert contact.causation_id == received.event_id
    given = RequestContactGiven.model_validate(contact.data)
    assert (given.request_id, given.contact) == (accepted.request_id, request.contact)


async def test_the_same_key_with_the_same_body_answers_the_first_request_and_emits_nothing_more(store, outbox):
    request, key = a_request(), unique("key")

    first = await submit(store, outbox, request, key)
    again = await submit(store, outbox, request.model_copy(), key)

    assert (again.request_id, again.replayed) == (first.request_id, True)
    assert len(store.requests) == 1 and [e.type for e in outbox.published] == ACCEPTED


async def test_the_same_key_with_another_body_is_a_conflict_and_records_nothing(store, outbox):
    key = unique("key")
    await submit(store, outbox, a_request(), key)

    with pytest.raises(IdempotencyConflict):
        await submit(store, outbox, a_request(), key)
    assert len(store.requests) == 1 and [e.type for e in outbox.published] == ACCEPTED


async def test_an_agency_sending_its_client_reference_again_gets_its_first_request(store, outbox):
    first_request = a_request(client_reference="CASE-9")
    second_request = first_request.model_copy(update={"assistance": a_request().assistance})
    second_key = unique("key")

    first = await submit(store, outbox, first_request, unique("key"))
    second = await submit(store, outbox, second_request, second_key)

    assert (second.request_id, second.replayed) == (first.request_id, True)
    assert store.keys[second_key].request_id == first.request_id  # a replay of the second key finds it too
    assert [e.type for e in outbox.published] == ACCEPTED


async def test_an_invalid_inbound_record_is_answered_with_one_rejection_however_often_it_comes(store, outbox):
    body = json.dumps(sample_request(agency__sworn_officers="many")).encode()

    for _ in range(2):
        await commands.submit_inbound(
            store, outbox, [inbound(body, correlation_id="cms-7")], max_bytes=64 * 1024, key_ttl=TTL
        )

    first, redelivered = outbox.published
    assert first.event_id == redelivered.event_id
    assert (first.type, first.correlation_id, first.key) == ("SubmissionRejected", "cms-7", "CASE-1")
    rejection = SubmissionRejected.model_validate(first.data)
    assert [(e.loc, e.type) for e in rejection.errors] == [(["agency", "sworn_officers"], "int_parsing")]
    assert rejection.publisher_correlation_id == "cms-7"
    assert store.requests == {}


async def test_a_redelivered_inbound_record_is_accepted_once(store, outbox):
    body = json.dumps(sample_request()).encode()

    for _ in range(2):
        await commands.submit_inbound(store, outbox, [inbound(body)], max_bytes=64 * 1024, key_ttl=TTL)

    [envelope, _contact] = outbox.published
    assert RequestReceived.model_validate(envelope.data).channel == "kafka"
    assert list(store.keys) == ["kafka:cri.intake.submissions:3:7"]


async def test_an_inbound_key_used_with_another_body_is_rejected_at_that_header(store, outbox):
    key = unique("key")
    for offset, body in enumerate((sample_request(), sample_request())):
        record = inbound(json.dumps(body).encode(), offset, idempotency_key=key)
        await commands.submit_inbound(store, outbox, [record], max_bytes=64 * 1024, key_ttl=TTL)

    *accepted, rejected = outbox.published
    assert [e.type for e in accepted] == ACCEPTED and rejected.type == "SubmissionRejected"
    [error] = SubmissionRejected.model_validate(rejected.data).errors
    assert (error.loc, error.type) == (["headers", "idempotency-key"], "idempotency_conflict")


async def test_a_group_is_recorded_together_and_answered_as_if_one_after_the_other(store, outbox):
    key, earlier_key, request = unique("key"), unique("key"), a_request(client_reference="CASE-3")
    earlier = await submit(store, outbox, request, earlier_key)
    fresh, other = a_request(), a_request()
    group = [
        commands.Incoming(fresh, "http", outbox, idempotency_key=key),
        commands.Incoming(fresh.model_copy(), "http", outbox, idempotency_key=key),  # the same key and body again
        commands.Incoming(other, "http", outbox, idempotency_key=key),  # the same key, another body
        commands.Incoming(request.model_copy(update={"assistance": other.assistance}), "http", outbox),  # CASE-3
        commands.Incoming(other, "http", outbox),
    ]

    first, again, conflict, same_reference, unkeyed = await commands.submit_requests(store, group, key_ttl=TTL)

    assert store.calls == 2  # the earlier submission, then the whole group
    assert (first.replayed, again.request_id, again.replayed) == (False, first.request_id, True)
    assert isinstance(conflict, IdempotencyConflict)
    assert (same_reference.request_id, same_reference.replayed) == (earlier.request_id, True)
    assert unkeyed.replayed is False
    published = [(e.type, e.key) for e in outbox.published]
    assert published == [(t, str(r.request_id)) for r in (earlier, first, unkeyed) for t in ACCEPTED]


async def test_an_inbound_batch_is_recorded_together_and_its_invalid_records_rejected(store, outbox):
    valid = [inbound(json.dumps(sample_request()).encode(), offset) for offset in range(3)]
    invalid = inbound(b"{}", 3)

    await commands.submit_inbound(store, outbox, [*valid, invalid], max_bytes=64 * 1024, key_ttl=TTL)

    assert store.calls == 1
    assert sorted(e.type for e in outbox.published) == sorted(ACCEPTED * 3 + ["SubmissionRejected"])


async def test_a_followed_event_moves_its_request_and_emits_nothing(store, outbox):
    event = RequestQueued(request_id=uuid4(), tier=Tier.CRI_TAC, reason="no capacity", queued_at=datetime.now(UTC))
    envelope = Envelope.wrap(event, source="routing", correlation_id="c")

    await commands.track_status(store, envelope, event)

    assert store.statuses == [(event.request_id, envelope.event_id, "queued")]
    assert outbox.published == []


def test_an_agency_acts_for_itself_only_other_systems_and_staff_for_any():
    agency = Principal(role=Role.AGENCY, subject="ori:IL0840000")
    commands.ensure_acts_for(agency, "ori:IL0840000", "not yours")
    commands.ensure_acts_for(Principal(role=Role.STAFF, subject="dev-staff"), "ori:IL0840000", "not yours")
    with pytest.raises(NotYours, match="not yours"):
        commands.ensure_acts_for(agency, "ori:IL0990000", "not yours")
