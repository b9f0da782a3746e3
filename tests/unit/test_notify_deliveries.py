"""A delivery's id: the same for the same event, recipient and channel."""

from uuid import uuid4

from services.notify.domain.deliveries import delivery_id
from services.notify.domain.recipients import Recipient
from tests.unit.test_notify_planning import STAFF


def test_a_delivery_id_is_the_same_for_the_same_event_recipient_and_channel():
    event_id = uuid4()
    assert delivery_id(event_id, STAFF, "email") == delivery_id(event_id, STAFF.model_copy(), "email")


def test_a_delivery_id_differs_per_event_channel_and_recipient():
    event_id = uuid4()
    provider = Recipient(role="provider", name="NPI", email="cri@npi.example.org")
    ids = {
        delivery_id(event_id, STAFF, "email"),
        delivery_id(event_id, STAFF, "webhook"),
        delivery_id(event_id, provider, "email"),
        delivery_id(uuid4(), STAFF, "email"),
    }
    assert len(ids) == 4


def test_a_delivery_id_differs_per_channel_even_without_any_address():
    nowhere = Recipient(role="agency", name="agency contact")
    event_id = uuid4()
    assert delivery_id(event_id, nowhere, "email") != delivery_id(event_id, nowhere, "webhook")
