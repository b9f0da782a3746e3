"""What a webhook carries and how it is signed and verified."""

import json

import pytest

from services.notify.domain.deliveries import delivery_id
from services.notify.domain.rendering import render
from services.notify.domain.signatures import sign, verify
from services.notify.domain.webhooks import webhook_body
from tests.unit.test_notify_planning import (
    STAFF,
    facts,
    needs_review,
    only,
    plan,
)

BODY = b'{"kind":"review_needed_staff"}'
SECRET = "s3cret"


def test_a_signature_names_its_timestamp_and_verifies():
    header = sign(BODY, SECRET, timestamp=1_767_000_000)
    assert header.startswith("t=1767000000,v1=")
    assert verify(BODY, header, SECRET, tolerance_s=300, now=1_767_000_100)


def test_a_tampered_body_fails_verification():
    header = sign(BODY, SECRET, timestamp=1_767_000_000)
    assert not verify(BODY.replace(b"staff", b"agency"), header, SECRET, tolerance_s=300, now=1_767_000_000)


def test_a_tampered_timestamp_fails_verification():
    signature = sign(BODY, SECRET, timestamp=1_767_000_000).split(",")[1]
    assert not verify(BODY, f"t=1767000001,{signature}", SECRET, tolerance_s=300, now=1_767_000_000)


def test_another_secret_fails_verification():
    header = sign(BODY, SECRET, timestamp=1_767_000_000)
    assert not verify(BODY, header, "other", tolerance_s=300, now=1_767_000_000)


def test_a_signature_older_than_the_tolerance_fails_verification():
    header = sign(BODY, SECRET, timestamp=1_767_000_000)
    assert not verify(BODY, header, SECRET, tolerance_s=300, now=1_767_000_301)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=soon,v1=abc", "t=1767000000", "garbage"])
def test_a_malformed_header_fails_verification(header):
    assert not verify(BODY, header, SECRET, tolerance_s=300, now=1_767_000_000)


def test_a_webhook_body_is_canonical_json_with_the_ids():
    request = facts()
    hook = only(plan(needs_review(request), request), "review_needed_staff", "webhook")
    body = webhook_body(hook, render(hook))
    decoded = json.loads(body)
    assert json.dumps(decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == body
    assert decoded["request_id"] == str(request.request_id)
    assert decoded["delivery_id"] == str(delivery_id(hook.cause_event_id, STAFF, "webhook"))
    assert (decoded["kind"], decoded["role"]) == ("review_needed_staff", "staff")
