"""Intake's use cases: every change to its requests and every event it emits is built here (deleting expired
idempotency keys is the workers' housekeeping). A submission is recorded with its RequestReceived and
RequestContactGiven (or recognised as one already recorded), an inbound record that cannot be accepted is answered
with a SubmissionRejected, a downstream event moves its request's status. Each loads what it needs through the
store, decides with the domain, saves, and emits through the outbox of the caller's transaction.

They take plain values and raise the exceptions below, so every edge maps them to its own answer: the JSON API to
a status code, the inbound topic to a rejection, an HTML form to the page it shows again. HTTP submissions reach
`submit_requests` through the group commit, which shares one transaction among those that arrive together, and the
records of an inbound batch through `submit_inbound`: either way they are recorded together, by one statement."""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from uuid import UUID, uuid4

from services.intake import SERVICE
from services.intake.domain.agency_requests import withdrawal_refused
from services.intake.domain.signin import (
    AgencyContact,
    ProviderContact,
    SignInLimits,
    Verdict,
    normalized,
    strictest,
    verdict,
    who_is,
)
from services.intake.domain.status import StatusChange, status_change
from services.intake.domain.submissions import SubmissionLimits, agency_key, fingerprint, parse_submission
from services.intake.store import (
    HeldSubmission,
    KeyUse,
    LinkRow,
    NewRequest,
    PendingRow,
    SessionRow,
    StatusRow,
    Waiting,
)
from shared.contract.envelope import Envelope, EventData
from shared.contract.events import (
    FieldError,
    RequestContactGiven,
    RequestReceived,
    RequestRouted,
    RequestWithdrawn,
    SignInLinkRequested,
    SubmissionConfirmationRequested,
    SubmissionRejected,
)
from shared.contract.ids import derived_id
from shared.contract.requests import RequestForAssistance
from shared.runtime.auth import Principal, Role
from shared.runtime.web.session import Person
from shared.runtime.web.tokens import new_token, token_digest

_REJECTION_NAMESPACE = UUID("0b6c4a52-5f0e-4d7e-a1c9-2f5e8a9d3b17")


class Store(Protocol):
    """What the commands read and write (`store.PostgresStore` in the caller's transaction)."""

    async def record_requests(self, new: Sequence[NewRequest], key_ttl: timedelta) -> list[UUID | KeyUse]: ...

    async def record_status(self, request_id: UUID, event_id: UUID, at: datetime, change: StatusChange) -> None: ...

    async def load_status(self, request_id: UUID, *, lock: bool = False) -> StatusRow | None: ...

    async def waiting_since(self, since: datetime, *, email: str, client: str) -> Waiting: ...

    async def hold_pending(self, held: HeldSubmission) -> None: ...

    async def pending(self, token_sha256: bytes, *, lock: bool = False) -> PendingRow | None: ...

    async def confirm_pending(self, pending_id: UUID, request_id: UUID) -> None: ...


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


@dataclass(frozen=True, slots=True)
class Incoming:
    """A submission to accept: the request, how it came, its idempotency key, the publisher's correlation id, and
    where its event goes (the transaction's outbox; the group commit's writes it under its caller's trace)."""

    request: RequestForAssistance
    channel: Literal["http", "kafka"]
    outbox: Outbox
    idempotency_key: str | None = None
    correlation_id: str | None = None


async def submit_requests(
    store: Store, incoming: Sequence[Incoming], *, key_ttl: timedelta
) -> list[Acceptance | IdempotencyConflict]:
    """Record requests and emit their RequestReceived and RequestContactGiven, or recognise each as recorded
    already: the same idempotency key with the same body (a key used with another body is an IdempotencyConflict),
    or the same agency's client reference. They are recorded together (one statement for all of them) and answered
    in order, each as if submitted after the ones before it; a conflict is answered, not raised, and records
    nothing."""
    bodies = [fingerprint(i.request) if i.idempotency_key is not None else None for i in incoming]
    first_with_key: dict[str, int] = {}  # a key given twice: the first submission takes it, the second replays
    new: dict[int, tuple[NewRequest, Envelope]] = {}
    for position, submission in enumerate(incoming):
        key = submission.idempotency_key
        if key is not None:
            if key in first_with_key:
                continue
            first_with_key[key] = position
        request_id, request = uuid4(), submission.request
        received = RequestReceived(
            request_id=request_id,
            submitted_at=datetime.now(UTC),
            channel=submission.channel,
            request=request.without_contact(),
        )
        envelope = Envelope.wrap(received, source=SERVICE, correlation_id=submission.correlation_id or str(request_id))
        new[position] = (
            NewRequest(received, request, envelope.event_id, agency_key(request.agency), key, bodies[position]),
            envelope,
        )
    recorded = dict(zip(new, await store.record_requests([n for n, _ in new.values()], key_ttl), strict=True))
    answers: list[Acceptance | IdempotencyConflict] = []
    for position, submission in enumerate(incoming):
        key = submission.idempotency_key
        first = position if key is None else first_with_key[key]
        new_request, envelope = new[first]
        outcome = recorded[first]
        if first != position and not isinstance(outcome, KeyUse):  # its key was taken by a submission before it
            outcome = KeyUse(new_request.body_sha256 or b"", outcome)
        if isinstance(outcome, KeyUse):
            same = outcome.body_sha256 == bodies[position]
            answers.append(Acceptance(outcome.request_id, replayed=True) if same else IdempotencyConflict(key))
        elif outcome == new_request.received.request_id:
            submission.outbox.publish(envelope)
            contact = RequestContactGiven(request_id=outcome, contact=new_request.request.contact)
            submission.outbox.publish(envelope.follow(contact, source=SERVICE))
            answers.append(Acceptance(outcome, replayed=False))
        else:  # the agency sent this client reference before
            answers.append(Acceptance(outcome, replayed=True))
    return answers


async def submit_request(
    store: Store,
    outbox: Outbox,
    request: RequestForAssistance,
    channel: Literal["http", "kafka"],
    *,
    idempotency_key: str | None,
    key_ttl: timedelta,
) -> Acceptance:
    """Record one request (`submit_requests`); raises IdempotencyConflict."""
    [answer] = await submit_requests(store, [Incoming(request, channel, outbox, idempotency_key)], key_ttl=key_ttl)
    if isinstance(answer, IdempotencyConflict):
        raise answer
    return answer


async def submit_inbound(
    store: Store, outbox: Outbox, records: Sequence[InboundRecord], *, max_bytes: int, key_ttl: timedelta
) -> None:
    """Accept inbound records as if posted (channel kafka), all recorded together, or answer each that cannot be
    with a SubmissionRejected."""
    accepted: list[tuple[InboundRecord, Incoming]] = []
    for record in records:
        parsed = parse_submission(record.value, record.headers, max_bytes)
        if isinstance(parsed, list):
            _reject(outbox, record, parsed)
            continue
        # A redelivered record carries the same position, hence the same key: it is recognised, not doubled.
        key = record.headers.get("idempotency-key") or f"kafka:{record.topic}:{record.partition}:{record.offset}"
        accepted.append((record, Incoming(parsed, "kafka", outbox, key, record.headers.get("correlation-id"))))
    answers = await submit_requests(store, [submission for _, submission in accepted], key_ttl=key_ttl)
    for (record, _), answer in zip(accepted, answers, strict=True):
        if isinstance(answer, IdempotencyConflict):
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


class TooManySubmissions(Exception):
    """More requests of the public form wait for confirmation, from this address or this client, than allowed."""


class LinkExpired(LookupError):
    """No request waits for confirmation under this link: an unknown token, or its time is up."""


class NotWithdrawable(Exception):
    """The request is past withdrawing (a provider holds it, or it is closed); the message says why, for people."""


class UnknownRequest(LookupError):
    """No request has this id."""


@dataclass(frozen=True, slots=True)
class Confirmed:
    request_id: UUID
    email: str


def acts_for_own_agency(principal: Principal | None, request: RequestForAssistance) -> bool:
    """A signed-in agency person sending a request of their own agency: accepted at once, without the emailed
    confirmation the public form asks of everyone else."""
    return principal is not None and principal.role is Role.AGENCY and principal.subject == agency_key(request.agency)


async def hold_submission(
    store: Store,
    outbox: Outbox,
    request: RequestForAssistance,
    *,
    client: str,
    limits: SubmissionLimits,
    confirm_url: Callable[[str], str],
) -> datetime:
    """Keep a request of the public form until its contact confirms the address by the emailed link (notify
    sends it on SubmissionConfirmationRequested), and answer when the link expires. No other service sees the
    request before then; raises TooManySubmissions past the limits."""
    now = datetime.now(UTC)
    email = request.contact.email.lower()
    waiting = await store.waiting_since(now - limits.window, email=email, client=client)
    if limits.exceeded(waiting.by_address, waiting.by_client):
        raise TooManySubmissions(email)
    pending_id, token, expires_at = uuid4(), new_token(), now + limits.ttl
    await store.hold_pending(
        HeldSubmission(pending_id, token_digest(token), request, email, client, created_at=now, expires_at=expires_at)
    )
    link = SubmissionConfirmationRequested(
        link_id=pending_id,
        email=request.contact.email,
        name=request.contact.name,
        agency_name=request.agency.name,
        url=confirm_url(token),
        expires_at=expires_at,
        requested_at=now,
    )
    outbox.publish(Envelope.wrap(link, source=SERVICE, correlation_id=str(pending_id)))
    return expires_at


async def confirm_submission(store: Store, outbox: Outbox, token: str, *, key_ttl: timedelta) -> Confirmed:
    """The contact opened the link and sends the request: it is accepted like any other (RequestReceived).
    Sending again from the same link answers the same request."""
    pending = await store.pending(token_digest(token), lock=True)
    if pending is None or pending.expires_at <= datetime.now(UTC):
        raise LinkExpired
    request_id = pending.request_id
    if request_id is None:
        accepted = await submit_request(store, outbox, pending.request, "http", idempotency_key=None, key_ttl=key_ttl)
        request_id = accepted.request_id
        await store.confirm_pending(pending.pending_id, request_id)
    return Confirmed(request_id, pending.request.contact.email)


async def withdraw_request(
    store: Store, outbox: Outbox, request_id: UUID, principal: Principal, *, email: str, reason: str | None
) -> None:
    """The agency withdraws a request no provider holds yet (RequestWithdrawn). Raises UnknownRequest, NotYours,
    NotWithdrawable with the reason, or pydantic's ValidationError for a reason that is not usable text."""
    found = await store.load_status(request_id, lock=True)
    if found is None:
        raise UnknownRequest(request_id)
    ensure_acts_for(principal, found.agency_key, "another agency's request")
    refusal = withdrawal_refused(found.status, found.engagement_id)
    if refusal is not None:
        raise NotWithdrawable(refusal)
    now = datetime.now(UTC)
    event = RequestWithdrawn(
        request_id=request_id, withdrawn_at=now, withdrawn_by=email, status_seen=found.status, reason=reason
    )
    envelope = Envelope.wrap(event, source=SERVICE, correlation_id=str(request_id))
    await store.record_status(request_id, envelope.event_id, now, StatusChange("withdrawn", {"by": email}))
    outbox.publish(envelope)


# People's sign-in (docs/security.md, "People's sign-in"): a link is asked for with an address, made and sent
# only when the address is someone the system knows, and opens one session.


class SignInStore(Protocol):
    """What signing in reads and writes (`store.PostgresSignIn`, in the caller's transaction)."""

    async def lock_grants(
        self, keys: Sequence[tuple[str, str]], since: datetime
    ) -> dict[tuple[str, str], list[datetime]]: ...

    async def record_grants(self, keys: Sequence[tuple[str, str]], at: datetime) -> None: ...

    async def provider_of(self, email: str) -> ProviderContact | None: ...

    async def agency_of(self, email: str) -> AgencyContact | None: ...

    async def remember_provider(self, provider_id: str, name: str, email: str, at: datetime) -> None: ...

    async def record_link(
        self, digest: bytes, link_id: UUID, email: str, next_path: str, created_at: datetime, expires_at: datetime
    ) -> None: ...

    async def usable_link(self, digest: bytes, now: datetime) -> LinkRow | None: ...

    async def use_link(self, digest: bytes, now: datetime) -> LinkRow | None: ...

    async def record_session(
        self, digest: bytes, person: Person, created_at: datetime, expires_at: datetime
    ) -> None: ...

    async def live_session(self, digest: bytes, now: datetime) -> SessionRow | None: ...

    async def end_session(self, digest: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str  # for the cookie; only its digest is stored
    person: Person
    next_path: str


async def ask_for_sign_in(store: SignInStore, email: str, client: str, now: datetime, limits: SignInLimits) -> Verdict:
    """Count an ask for a sign-in link against its address's and its client's limits. Known address or not, the
    same is counted and decided, so the limits tell nothing about who is known."""
    address = ("address", hashlib.sha256(normalized(email).encode()).hexdigest())
    network = ("client", client)
    since = now - max(limits.per_address.window, limits.per_client.window)
    granted = await store.lock_grants([address, network], since)
    decision = strictest(
        verdict(granted[address], now, limits.per_address), verdict(granted[network], now, limits.per_client)
    )
    if decision.allowed:
        await store.record_grants([address, network], now)
    return decision


async def send_sign_in_link(
    store: SignInStore,
    outbox: Outbox,
    email: str,
    next_path: str,
    *,
    staff: Mapping[str, str],
    link_ttl: timedelta,
    link_base: str,
    now: datetime,
) -> None:
    """Make a single-use link for the person `email` is and ask notify to send it (SignInLinkRequested); nothing
    for an address the system does not know."""
    person = await _who_is(store, email, staff)
    if person is None:
        return
    token, link_id, expires_at = new_token(), uuid4(), now + link_ttl
    await store.record_link(token_digest(token), link_id, person.email, next_path, now, expires_at)
    event = SignInLinkRequested(
        link_id=link_id,
        email=person.email,
        name=person.name,
        role=person.role.value,
        url=f"{link_base}/sign-in/link?token={token}",
        expires_at=expires_at,
        requested_at=now,
    )
    outbox.publish(Envelope.wrap(event, source=SERVICE, correlation_id=f"sign-in:{link_id}"))


async def usable_link(store: SignInStore, token: str, now: datetime) -> LinkRow | None:
    """The link of `token` if it can still sign someone in (known, unused, unexpired); it stays unused."""
    return await store.usable_link(token_digest(token), now) if token else None


async def open_session(
    store: SignInStore,
    link_token: str,
    previous_session: str | None,
    *,
    staff: Mapping[str, str],
    session_ttl: timedelta,
    now: datetime,
) -> OpenedSession | None:
    """Use the link (once) and open a session for the person its address is now; None for a link that is
    unknown, used or expired. A session the browser had is ended: one browser, one session."""
    link = await store.use_link(token_digest(link_token), now) if link_token else None
    person = await _who_is(store, link.email, staff) if link else None
    if link is None or person is None:
        return None
    if previous_session:
        await store.end_session(token_digest(previous_session))
    token = new_token()
    await store.record_session(token_digest(token), person, now, now + session_ttl)
    return OpenedSession(token, person, link.next_path)


async def session_of(store: SignInStore, token: str, now: datetime) -> SessionRow | None:
    """The live session of a cookie's token: its person and when it ends."""
    return await store.live_session(token_digest(token), now) if token else None


async def end_session(store: SignInStore, token: str) -> None:
    await store.end_session(token_digest(token))


async def note_routing(store: Store, people: SignInStore, envelope: Envelope, event: RequestRouted) -> None:
    """A routed request moves its status, and names its provider's program mailbox: from then on that address
    signs in as the provider."""
    await track_status(store, envelope, event)
    provider = event.provider
    if provider.contact_email:
        await people.remember_provider(
            provider.provider_id, provider.name, normalized(provider.contact_email), envelope.occurred_at
        )


async def _who_is(store: SignInStore, email: str, staff: Mapping[str, str]) -> Person | None:
    email = normalized(email)
    return who_is(email, staff, await store.provider_of(email), await store.agency_of(email))
