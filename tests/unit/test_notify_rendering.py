"""How a planned notification is rendered: subject, text and HTML from its kind's templates."""

import pytest

from services.notify.domain.kinds import KINDS
from services.notify.domain.rendering import TEMPLATE_DIR, RenderError, render
from shared.contract.vocabulary import Tier
from tests.unit.test_notify_planning import (
    closed,
    deadline_missed,
    escalated,
    facts,
    needs_review,
    only,
    opened,
    plan,
    queued,
    routed,
)


@pytest.mark.parametrize(
    "make", [routed, needs_review, queued, opened, deadline_missed, escalated, closed], ids=lambda make: make.__name__
)
def test_every_planned_message_renders_subject_text_and_html(make):
    request = facts()
    for planned in plan(make(request), request):
        message = render(planned)
        assert message.subject and "\n" not in message.subject
        assert "Hello" in message.text and str(request.request_id) in message.text
        assert message.html.startswith("<!DOCTYPE html>") and message.subject.split(":")[0] in message.html


@pytest.mark.parametrize(
    "make", [routed, needs_review, queued, opened, deadline_missed, escalated, closed], ids=lambda make: make.__name__
)
def test_every_planned_message_renders_when_the_request_is_not_on_record(make):
    for planned in plan(make(facts()), request=None):
        assert str(planned.request_id) in render(planned).text


def test_routed_messages_name_the_agency_the_tier_and_the_provider_in_text_and_html():
    request = facts()
    for planned in plan(routed(request), request):
        message = render(planned)
        for part in (message.text, message.html):
            assert "Springfield Police Department" in part
            assert "Critical Response" in part
            assert "National Policing Institute" in part


def test_the_agency_learns_the_next_steps_of_its_tier():
    request = facts()
    message = render(only(plan(routed(request, tier=Tier.ORGANIZATIONAL_ASSESSMENT), request), "request_routed_agency"))
    assert "a year or more" in message.text


def test_html_escapes_agency_supplied_text():
    request = facts(agency_name="<script>alert('x')</script> PD")
    message = render(only(plan(routed(request), request), "request_routed_agency"))
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "<script>alert('x')</script> PD" in message.text


def test_a_subject_stays_one_line_whatever_the_agency_name_holds():
    request = facts(agency_name="Springfield PD\r\nBcc: everyone@example.com")
    subject = render(only(plan(routed(request), request), "request_routed_agency")).subject
    assert "\r" not in subject and "\n" not in subject


def test_a_kind_without_templates_is_a_render_error():
    request = facts()
    planned = only(plan(closed(request), request), "engagement_closed_agency")
    with pytest.raises(RenderError, match="no_such_kind"):
        render(planned.model_copy(update={"kind": "no_such_kind"}))


def test_a_variable_missing_from_the_context_is_a_render_error():
    request = facts()
    planned = only(plan(closed(request), request), "engagement_closed_agency")
    broken = planned.model_copy(update={"context": {k: v for k, v in planned.context.items() if k != "outcome"}})
    with pytest.raises(RenderError, match="outcome"):
        render(broken)


def test_every_kind_has_its_templates_and_every_template_set_is_a_kind():
    subjects = {path.name.removesuffix(".subject.txt") for path in TEMPLATE_DIR.glob("*.subject.txt")}
    assert subjects == KINDS
    for kind in KINDS:
        assert (TEMPLATE_DIR / f"{kind}.txt").is_file() and (TEMPLATE_DIR / f"{kind}.html").is_file()
