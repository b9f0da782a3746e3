"""What intake refuses before it touches the database, as pure functions: bodies refused on their headers,
inbound records parsed into a request or field errors, and strings PostgreSQL could not store."""

import json

import pytest
from pydantic import ValidationError

from services.intake.domain.submissions import MAX_KEY_CHARS, parse_submission
from services.intake.limits import refusal
from shared.contract.requests import RequestForAssistance
from tests.support import sample_request

LIMIT = 1000


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
def test_a_body_that_is_not_declared_json_is_refused_with_415(content_type):
    assert refusal("POST", content_type, "10", LIMIT) == (415, "Content-Type must be application/json")


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_a_json_body_within_the_limit_is_read(content_type):
    assert refusal("POST", content_type, str(LIMIT), LIMIT) is None


def test_a_declared_length_past_the_limit_is_refused_with_413_before_reading():
    assert refusal("POST", "application/json", str(LIMIT + 1), LIMIT) == (
        413,
        f"request body is larger than {LIMIT} bytes",
    )


def test_requests_without_a_body_are_not_checked():
    assert refusal("GET", None, None, LIMIT) is None


def test_a_valid_inbound_record_parses_into_the_request():
    parsed = parse_submission(json.dumps(sample_request()).encode(), {}, 64 * 1024)
    assert isinstance(parsed, RequestForAssistance)


def test_an_inbound_record_past_the_limit_is_rejected_whole():
    [error] = parse_submission(b" " * (LIMIT + 1), {}, LIMIT)
    assert (error.loc, error.type) == ([], "too_large")


def test_an_inbound_record_that_is_not_json_is_rejected_as_such():
    [error] = parse_submission(b'{"agency": ', {}, LIMIT)
    assert error.type == "json_invalid"


def test_an_inbound_record_with_a_wrong_typed_field_is_rejected_at_that_field():
    body = sample_request(agency__sworn_officers="many")
    [error] = parse_submission(json.dumps(body).encode(), {}, 64 * 1024)
    assert (error.loc, error.type) == (["agency", "sworn_officers"], "int_parsing")


def test_an_overlong_idempotency_key_header_is_rejected():
    headers = {"idempotency-key": "k" * (MAX_KEY_CHARS + 1)}
    [error] = parse_submission(json.dumps(sample_request()).encode(), headers, 64 * 1024)
    assert error.loc == ["headers", "idempotency-key"]


def test_an_inbound_nul_character_is_rejected_at_its_field():
    body = sample_request(assistance__description="training\u0000please")
    [error] = parse_submission(json.dumps(body).encode(), {}, 64 * 1024)
    assert (error.loc, error.type) == (["assistance", "description"], "string_unstorable")


def test_nul_characters_are_located_at_each_field_that_holds_one():
    body = sample_request(
        client_reference="ref\x00", contact__name="\x00", incident={"summary": "x", "occurred_on": "2026-01-02"}
    )
    body["incident"]["summary"] = "shots\x00fired"
    with pytest.raises(ValidationError) as refused:
        RequestForAssistance.model_validate(body)
    assert sorted(e["loc"] for e in refused.value.errors() if e["type"] == "string_unstorable") == [
        ("client_reference",),
        ("contact", "name"),
        ("incident", "summary"),
    ]


def test_ordinary_unicode_is_accepted():
    request = RequestForAssistance.model_validate(sample_request(agency__name="Département de police — 東京 🚓"))
    assert request.agency.name.startswith("Département de police")
