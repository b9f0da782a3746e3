"""Specification of what each reader of an engagement may see of its request (domain/disclosure.py): the
confidentiality rule per role and tier, and the contact person only while the work needs it."""

from datetime import date

import pytest

from services.engagements.domain.disclosure import readable_request
from shared.contract.requests import EXAMPLE_REQUEST, RequestForAssistance
from shared.contract.vocabulary import Tier

SUMMARY = "Officer-involved shooting during a traffic stop on 3 November."


def request(*, confidential: bool, incident: bool = True) -> RequestForAssistance:
    body = dict(EXAMPLE_REQUEST)
    if incident:
        body["incident"] = {
            "summary": SUMMARY,
            "occurred_on": date(2026, 11, 3).isoformat(),
            "high_profile": True,
            "confidential": confidential,
            "assistance": ["after_action_review"],
        }
    return RequestForAssistance.model_validate(body)


def seen_by(reader, tier, *, confidential, flagged=False, incident=True, engagement_open=True, contact_come=True):
    asked = request(confidential=confidential, incident=incident)
    return readable_request(
        asked.without_contact(),
        asked.contact if contact_come else None,
        reader=reader,
        tier=tier,
        flagged_by_routing=flagged,
        engagement_open=engagement_open,
    )


@pytest.mark.parametrize("tier", list(Tier))
@pytest.mark.parametrize("confidential", [False, True])
def test_staff_read_every_incident(tier, confidential):
    seen = seen_by("staff", tier, confidential=confidential, flagged=confidential)
    assert seen.incident.summary == SUMMARY and not seen.incident_withheld


@pytest.mark.parametrize("confidential", [False, True])
def test_a_critical_response_provider_reads_the_incident_confidential_or_not(confidential):
    seen = seen_by("provider", Tier.CRITICAL_RESPONSE, confidential=confidential, flagged=confidential)
    assert seen.incident.summary == SUMMARY


@pytest.mark.parametrize("tier", [Tier.CRI_TAC, Tier.ORGANIZATIONAL_ASSESSMENT])
@pytest.mark.parametrize(("agency_flag", "routing_flag"), [(True, False), (False, True), (True, True)])
def test_other_providers_never_read_confidential_incident_text(tier, agency_flag, routing_flag):
    seen = seen_by("provider", tier, confidential=agency_flag, flagged=routing_flag)
    assert seen.incident.summary is None and seen.incident_withheld
    assert seen.incident.confidential
    assert SUMMARY not in seen.model_dump_json()
    # What the incident was about, without its text, still helps the provider prepare.
    assert seen.incident.occurred_on == date(2026, 11, 3) and seen.incident.assistance == ["after_action_review"]


def test_a_provider_reads_an_incident_that_is_not_confidential():
    assert seen_by("provider", Tier.CRI_TAC, confidential=False).incident.summary == SUMMARY


def test_no_incident_is_nothing_withheld():
    seen = seen_by("provider", Tier.CRI_TAC, confidential=False, flagged=True, incident=False)
    assert seen.incident is None and not seen.incident_withheld


def test_the_provider_sees_the_contact_person_only_while_the_engagement_is_open():
    contact = request(confidential=False).contact
    open_ = seen_by("provider", Tier.CRI_TAC, confidential=False)
    closed = seen_by("provider", Tier.CRI_TAC, confidential=False, engagement_open=False)
    assert open_.contact == contact and not open_.contact_withheld
    assert closed.contact is None and closed.contact_withheld
    assert contact.email not in closed.model_dump_json()
    assert seen_by("staff", Tier.CRI_TAC, confidential=False, engagement_open=False).contact == contact


def test_a_contact_person_not_come_yet_is_not_said_to_be_withheld():
    seen = seen_by("provider", Tier.CRI_TAC, confidential=False, contact_come=False)
    assert seen.contact is None and not seen.contact_withheld
