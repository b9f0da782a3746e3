"""An agency's requests in plain words, and the rule for withdrawing one."""

from uuid import uuid4

import pytest

from services.intake.domain.agency_requests import STATUSES, step_words, withdrawal_refused


@pytest.mark.parametrize("status", ["submitted", "in_review", "queued"])
def test_a_request_no_provider_holds_may_be_withdrawn(status):
    assert withdrawal_refused(status, None) is None


@pytest.mark.parametrize("status", ["routed", "engagement_opened", "in_progress", "escalated"])
def test_a_request_a_provider_holds_is_not_withdrawn_the_provider_closes_it(status):
    assert "Contact them" in withdrawal_refused(status, None)


def test_a_request_queued_again_after_an_escalation_belongs_to_its_engagement():
    assert "Contact them" in withdrawal_refused("queued", uuid4())


@pytest.mark.parametrize("status", ["closed", "withdrawn"])
def test_a_finished_request_has_nothing_to_withdraw(status):
    assert (
        withdrawal_refused(status, None) == f"This request is {STATUSES[status].lower()}: there is nothing to withdraw."
    )


@pytest.mark.parametrize(
    ("status", "detail", "words"),
    [
        ("submitted", {"channel": "http"}, "We received the request."),
        ("queued", {"tier": "cri_tac"}, "Matched to Training and technical assistance (CRI-TAC). Waiting for a"),
        ("routed", {"tier": "critical_response", "provider": "National Policing Institute"}, "with National Policing"),
        ("in_progress", {"milestone": "first_contact"}, "Step reached: first contact."),
        ("escalated", {"from_tier": "cri_tac", "to_tier": "organizational_assessment"}, "to Organizational Assessment"),
        ("closed", {"outcome": "completed"}, "The engagement closed: completed."),
        ("withdrawn", {"by": "jlee@springfield.example.gov"}, "Withdrawn by jlee@springfield.example.gov."),
        ("something_new", {}, "something_new"),
    ],
)
def test_each_step_reads_as_a_sentence(status, detail, words):
    assert words in step_words(status, detail)
