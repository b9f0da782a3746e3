"""Attempting a claimed delivery against a fake sender: the outcome, not an exception, says how it went."""

from uuid import UUID, uuid4

from services.notify.commands import Attempt, attempt
from services.notify.domain.deliveries import DeliveryFailed
from services.notify.domain.planning import PlannedNotification
from services.notify.domain.rendering import RenderedMessage
from services.notify.store import ClaimedDelivery
from shared.contract.events import ProviderRef
from tests.unit.test_notify_planning import closed, facts, only, plan, routed


class FakeSender:
    """Keeps what it is given to send, or raises `error` instead."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.sent: list[tuple[UUID, str, str]] = []

    async def deliver(self, delivery_id: UUID, planned: PlannedNotification, rendered: RenderedMessage) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((delivery_id, planned.kind, rendered.subject))


def claimed(planned: PlannedNotification) -> ClaimedDelivery:
    return ClaimedDelivery(delivery_id=uuid4(), correlation_id="corr", attempts=1, planned=planned)


def closing() -> PlannedNotification:
    request = facts()
    return only(plan(closed(request), request), "engagement_closed_agency")


async def test_an_accepted_send_is_an_attempt_without_failure():
    sender, delivery = FakeSender(), claimed(closing())
    assert await attempt(sender, delivery) == Attempt(delivery, None)
    [(sent_id, kind, subject)] = sender.sent
    assert (sent_id, kind) == (delivery.delivery_id, "engagement_closed_agency") and subject


async def test_a_recipient_without_an_address_fails_for_good_and_nothing_is_sent():
    request = facts()
    mailboxless = ProviderRef(provider_id="new", name="New Provider")
    assignment = only(plan(routed(request, provider=mailboxless), request), "assignment_provider")
    sender = FakeSender()
    done = await attempt(sender, claimed(assignment))
    assert (done.failure.reason, done.failure.permanent) == ("missing recipient address for the provider", True)
    assert sender.sent == []


async def test_a_template_error_fails_for_good():
    done = await attempt(FakeSender(), claimed(closing().model_copy(update={"kind": "no_such_kind"})))
    assert done.failure.permanent and done.failure.reason.startswith("template error: no_such_kind")


async def test_a_receiver_refusal_is_the_attempts_failure():
    refusal = DeliveryFailed("SMTP 451: try later", permanent=False)
    assert (await attempt(FakeSender(refusal), claimed(closing()))).failure is refusal


async def test_a_surprise_in_a_send_is_a_failure_worth_trying_again():
    done = await attempt(FakeSender(RuntimeError("boom")), claimed(closing()))
    assert (done.failure.reason, done.failure.permanent) == ("unexpected error: RuntimeError", False)
    assert done.failure.logged(done.failure.reason) == "unexpected error: RuntimeError (answer: RuntimeError('boom'))"
