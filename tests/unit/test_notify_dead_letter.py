"""The dead letter of a notification given up on: recorded once, pointing at its cause, never its text."""

import base64
import json
from uuid import uuid4

from services.notify.commands import dead_letter
from shared.contract.events import DeadLettered
from tests.unit.test_notify_planning import INCIDENT, NOW, facts, only, plan, routed

REASON = "missing recipient address for the provider"


def planned_assignment():
    request = facts()
    return only(plan(routed(request), request), "assignment_provider")


def test_a_dead_letter_has_the_same_id_for_the_same_delivery_and_another_for_another():
    planned, delivery = planned_assignment(), uuid4()
    first = dead_letter(delivery, "corr", planned, REASON, NOW)
    assert dead_letter(delivery, "corr", planned, REASON, NOW).event_id == first.event_id
    assert dead_letter(uuid4(), "corr", planned, REASON, NOW).event_id != first.event_id


def test_a_dead_letter_names_the_delivery_its_cause_and_the_reason():
    planned, delivery = planned_assignment(), uuid4()
    envelope = dead_letter(delivery, "corr-1", planned, REASON, NOW)
    letter = DeadLettered.model_validate(envelope.data)
    original = json.loads(base64.b64decode(letter.original_value_b64))
    assert (envelope.type, envelope.correlation_id) == ("DeadLettered", "corr-1")
    assert (letter.consumer, letter.source_topic, letter.reason) == ("notify", "cri.requests", REASON)
    assert original["delivery_id"] == str(delivery)
    assert original["cause_event_id"] == str(planned.cause_event_id)
    assert (original["kind"], original["role"], original["channel"]) == ("assignment_provider", "provider", "email")


def test_a_dead_letter_never_carries_the_message_text():
    request = facts(confidential=False)
    planned = only(plan(routed(request), request), "assignment_provider")
    assert INCIDENT in json.dumps(planned.context)  # the provider may read it: the plan holds it
    envelope = dead_letter(uuid4(), "corr", planned, REASON, NOW)
    assert INCIDENT not in base64.b64decode(envelope.data["original_value_b64"]).decode()
    assert INCIDENT not in envelope.model_dump_json()
