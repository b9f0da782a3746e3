"""The commands behind intake's pages for agencies, against an in-memory store: a form's request is held and told
to notify, never submitted before its contact sends it; sending twice sends once; the limits refuse without a
trace; a withdrawal is recorded and published only for a request no provider holds. The SQL is proved by
tests/e2e/test_request_pages.py."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from services.intake import commands
from services.intake.domain.status import StatusChange
from services.intake.domain.submissions import SubmissionLimits, agency_key
from services.intake.store import HeldSubmission, PendingRow, StatusRow, Waiting
from shared.contract.events import (
    RequestContactGiven,
    RequestReceived,
    RequestWithdrawn,
    SubmissionConfirmationRequested,
)
from shared.contract.requests import RequestForAssistance
from shared.runtime.auth import Principal, Role
from shared.runtime.web.tokens import token_digest
from tests.unit.test_intake_commands import TTL, MemoryOutbox, MemoryStore, a_request

LIMITS = SubmissionLimits(ttl=timedelta(hours=24), window=timedelta(hours=1), per_address=2, per_client=3)


class FormStore(MemoryStore):
    """MemoryStore with the form's waiting requests and the requests' statuses."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[bytes, tuple[PendingRow, str, str, datetime]] = {}  # digest -> (row, email, client, at)
        self.rows: dict[UUID, StatusRow] = {}

    async def waiting_since(self, since: datetime, *, email: str, client: str) -> Waiting:
        recent = [(e, c) for _, e, c, at in self.held.values() if at > since]
        return Waiting(sum(e == email for e, _ in recent), sum(c == client for _, c in recent))

    async def hold_pending(self, held: HeldSubmission) -> None:
        row = PendingRow(held.pending_id, held.request, held.expires_at, None)
        self.held[held.token_sha256] = (row, held.email, held.client, held.created_at)

    async def pending(self, token_sha256: bytes, *, lock: bool = False) -> PendingRow | None:
        return self.held[token_sha256][0] if token_sha256 in self.held else None

    async def confirm_pending(self, pending_id: UUID, request_id: UUID) -> None:
        for digest, (row, *rest) in self.held.items():
            if row.pending_id == pending_id:
                self.held[digest] = (replace(row, request_id=request_id), *rest)

    async def load_status(self, request_id: UUID, *, lock: bool = False) -> StatusRow | None:
        return self.rows.get(request_id)

    async def record_status(self, request_id: UUID, event_id: UUID, at: datetime, change: StatusChange) -> None:
        await super().record_status(request_id, event_id, at, change)
        if request_id in self.rows:
            self.rows[request_id] = replace(self.rows[request_id], status=change.status)


@pytest.fixture
def store() -> FormStore:
    return FormStore()


@pytest.fixture
def outbox() -> MemoryOutbox:
    return MemoryOutbox()


async def hold(store, outbox, request: RequestForAssistance, client: str = "192.0.2.1") -> str:
    """Hold `request` and answer the token of the link notify is asked to email."""
    await commands.hold_submission(
        store, outbox, request, client=client, limits=LIMITS, confirm_url=lambda token: f"https://cri.example/{token}"
    )
    return outbox.published[-1].data["url"].rsplit("/", 1)[1]


async def test_a_form_request_is_held_and_its_link_emailed_not_submitted(store, outbox):
    request = a_request()
    token = await hold(store, outbox, request)
    [link] = outbox.published
    assert link.type == SubmissionConfirmationRequested.event_type
    assert link.data["email"] == request.contact.email and link.data["agency_name"] == request.agency.name
    assert token_digest(token) in store.held and token not in str(store.held)  # only the digest is kept
    assert store.requests == {}


async def test_sending_from_the_link_submits_once_however_often_it_is_used(store, outbox):
    token = await hold(store, outbox, a_request())
    first = await commands.confirm_submission(store, outbox, token, key_ttl=TTL)
    again = await commands.confirm_submission(store, outbox, token, key_ttl=TTL)
    assert first == again and list(store.requests) == [first.request_id]
    assert [e.type for e in outbox.published] == [
        SubmissionConfirmationRequested.event_type,
        RequestReceived.event_type,
        RequestContactGiven.event_type,
    ]
    assert outbox.published[1].data["request_id"] == str(first.request_id)


async def test_an_unknown_or_expired_link_sends_nothing(store, outbox):
    token = await hold(store, outbox, a_request())
    row, *rest = store.held[token_digest(token)]
    store.held[token_digest(token)] = (replace(row, expires_at=datetime.now(UTC) - timedelta(seconds=1)), *rest)
    for link in (token, "not-a-token"):
        with pytest.raises(commands.LinkExpired):
            await commands.confirm_submission(store, outbox, link, key_ttl=TTL)
    assert store.requests == {}


async def test_past_the_limits_a_request_is_refused_and_nothing_is_held_or_sent(store, outbox):
    same_address = a_request(contact__email="chief@agency.example.gov")
    await hold(store, outbox, same_address)
    await hold(store, outbox, same_address)
    with pytest.raises(commands.TooManySubmissions):
        await hold(store, outbox, same_address)
    await hold(store, outbox, a_request(), client="192.0.2.1")  # another address, same client: the third
    with pytest.raises(commands.TooManySubmissions):
        await hold(store, outbox, a_request(), client="192.0.2.1")
    assert len(store.held) == len(outbox.published) == 3


def status_row(request: RequestForAssistance, status: str, engagement_id: UUID | None = None) -> StatusRow:
    now = datetime.now(UTC)
    return StatusRow(
        request_id=uuid4(),
        status=status,
        agency_name=request.agency.name,
        agency_key=agency_key(request.agency),
        channel="http",
        submitted_at=now,
        updated_at=now,
        tier=None,
        provider_id=None,
        provider_name=None,
        engagement_id=engagement_id,
        timeline=(),
    )


def agency_person(request: RequestForAssistance) -> Principal:
    return Principal(role=Role.AGENCY, subject=agency_key(request.agency))


async def test_a_request_with_staff_for_review_is_withdrawn_and_the_withdrawal_published(store, outbox):
    request = a_request()
    row = status_row(request, "in_review")
    store.rows = {row.request_id: row}
    await commands.withdraw_request(
        store, outbox, row.request_id, agency_person(request), email="chief@agency.example.gov", reason=" Not now. "
    )
    [event] = outbox.published
    assert event.type == RequestWithdrawn.event_type and event.key == str(row.request_id)
    assert (event.data["status_seen"], event.data["reason"], event.data["withdrawn_by"]) == (
        "in_review",
        "Not now.",
        "chief@agency.example.gov",
    )
    assert store.rows[row.request_id].status == "withdrawn"


@pytest.mark.parametrize(("status", "engagement"), [("routed", None), ("queued", uuid4()), ("closed", None)])
async def test_a_request_a_provider_holds_or_that_is_over_is_not_withdrawn(store, outbox, status, engagement):
    request = a_request()
    row = status_row(request, status, engagement)
    store.rows = {row.request_id: row}
    with pytest.raises(commands.NotWithdrawable):
        await commands.withdraw_request(
            store, outbox, row.request_id, agency_person(request), email="a@b.gov", reason=None
        )
    assert outbox.published == [] and store.statuses == []


async def test_another_agencys_request_or_an_unusable_reason_withdraws_nothing(store, outbox):
    request = a_request()
    row = status_row(request, "queued")
    store.rows = {row.request_id: row}
    with pytest.raises(commands.NotYours):
        await commands.withdraw_request(
            store, outbox, row.request_id, agency_person(a_request()), email="a@b.gov", reason=None
        )
    with pytest.raises(ValidationError):
        await commands.withdraw_request(
            store, outbox, row.request_id, agency_person(request), email="a@b.gov", reason="x" * 5001
        )
    with pytest.raises(commands.UnknownRequest):
        await commands.withdraw_request(store, outbox, uuid4(), agency_person(request), email="a@b.gov", reason=None)
    assert outbox.published == [] and store.statuses == []


def test_a_signed_in_person_of_the_agency_is_accepted_at_once_anyone_else_confirms_by_email():
    request = a_request()
    assert commands.acts_for_own_agency(agency_person(request), request)
    assert not commands.acts_for_own_agency(agency_person(a_request()), request)
    assert not commands.acts_for_own_agency(Principal(role=Role.STAFF, subject="dev-staff"), request)
    assert not commands.acts_for_own_agency(None, request)


def test_the_form_limits_count_what_is_already_there():
    assert not LIMITS.exceeded(by_address=1, by_client=2)
    assert LIMITS.exceeded(by_address=2, by_client=0) and LIMITS.exceeded(by_address=0, by_client=3)
