"""Specification of deadlines: the policy file, when the next milestone falls due, and the clock tests shrink."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.engagements.domain.deadlines import (
    DeadlineClock,
    DeadlineFileError,
    DeadlinePolicy,
    load_deadlines,
    next_deadline,
)
from services.engagements.domain.lifecycle import Milestone
from services.engagements.settings import DEFAULT_DEADLINES
from shared.contract.vocabulary import Tier

CRI_TAC, CRITICAL_RESPONSE, ASSESSMENT = Tier.CRI_TAC, Tier.CRITICAL_RESPONSE, Tier.ORGANIZATIONAL_ASSESSMENT
OPENED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> DeadlinePolicy:
    return load_deadlines(DEFAULT_DEADLINES)


def test_the_policy_has_one_field_per_tier():
    assert set(DeadlinePolicy.model_fields) == set(Tier)


def test_critical_response_first_contact_is_due_two_days_after_opening(policy):
    assert next_deadline(policy, CRITICAL_RESPONSE, "accepted", OPENED) == ("first_contact", OPENED + timedelta(days=2))


def test_critical_response_report_is_due_sixty_days_after_the_assistance(policy):
    assert next_deadline(policy, CRITICAL_RESPONSE, "assistance_delivered", OPENED) == (
        "report_delivered",
        OPENED + timedelta(days=60),
    )


def test_cri_tac_scoping_is_due_fourteen_days_after_acceptance(policy):
    assert next_deadline(policy, CRI_TAC, "accepted", OPENED) == ("scoping", OPENED + timedelta(days=14))


def test_assessment_is_due_thirty_days_after_kickoff(policy):
    assert next_deadline(policy, ASSESSMENT, "kickoff", OPENED) == ("assessment", OPENED + timedelta(days=30))


def test_a_progress_report_is_due_ninety_days_after_the_last_one_while_monitoring(policy):
    last_report = OPENED + timedelta(days=400)
    assert next_deadline(policy, ASSESSMENT, "implementation_monitoring", last_report) == (
        "progress_report",
        last_report + timedelta(days=90),
    )


def test_closing_is_due_after_the_last_milestone(policy):
    assert next_deadline(policy, CRI_TAC, "closeout", OPENED) == ("closed", OPENED + timedelta(days=14))


def test_no_deadline_once_closed(policy):
    assert next_deadline(policy, ASSESSMENT, "closed", OPENED) is None


def test_no_deadline_when_the_next_milestone_has_none():
    policy = DeadlinePolicy(cri_tac={}, critical_response={}, organizational_assessment={})
    assert next_deadline(policy, CRI_TAC, "accepted", OPENED) is None


def test_the_soonest_of_several_due_milestones_comes_next():
    assessment = {"progress_report": 90, "final_report": 30}
    policy = DeadlinePolicy(cri_tac={}, critical_response={}, organizational_assessment=assessment)
    assert next_deadline(policy, ASSESSMENT, "implementation_monitoring", OPENED) == (
        "final_report",
        OPENED + timedelta(days=30),
    )


GOOD_FILE = """\
cri_tac:
  scoping: 14
critical_response:
  first_contact: 2
organizational_assessment:
  assessment: 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deadlines.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_deadlines_file_is_read(tmp_path):
    policy = load_deadlines(write(tmp_path, GOOD_FILE))
    assert policy.days(CRITICAL_RESPONSE) == {"first_contact": 2}


def test_a_deadline_that_is_not_positive_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, GOOD_FILE.replace("first_contact: 2", "first_contact: -2"))
    where = rf"^{re.escape(str(path))}:4: critical_response.first_contact: "
    with pytest.raises(DeadlineFileError, match=where + "Input should be greater than 0"):
        load_deadlines(path)


def test_an_unknown_milestone_in_the_file_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, GOOD_FILE.replace("assessment: 30", "assesment: 30"))
    with pytest.raises(DeadlineFileError, match=rf"^{re.escape(str(path))}:6: organizational_assessment.assesment"):
        load_deadlines(path)


def test_a_milestone_of_another_tier_in_the_file_is_refused_with_its_tier(tmp_path):
    path = write(tmp_path, GOOD_FILE.replace("scoping: 14", "first_contact: 2"))
    where = rf"^{re.escape(str(path))}:1: cri_tac: "
    with pytest.raises(DeadlineFileError, match=where + ".*first_contact: no such deadline in cri_tac"):
        load_deadlines(path)


def test_a_missing_tier_is_refused(tmp_path):
    path = write(tmp_path, GOOD_FILE.replace("critical_response:\n  first_contact: 2\n", ""))
    with pytest.raises(DeadlineFileError, match=rf"^{re.escape(str(path))}: critical_response: Field required"):
        load_deadlines(path)


def test_a_file_that_is_not_yaml_is_refused_with_line_and_column(tmp_path):
    path = write(tmp_path, GOOD_FILE.replace("scoping: 14", "scoping: 14: days"))
    with pytest.raises(DeadlineFileError, match=rf"^{re.escape(str(path))}:2:14: mapping values are not allowed here"):
        load_deadlines(path)


# The clock


def test_a_day_lasts_a_day_by_default(policy):
    assert DeadlineClock(policy).next(Tier.CRI_TAC, "accepted", OPENED) == ("scoping", OPENED + timedelta(days=14))


def test_a_shorter_day_scales_every_deadline(policy):
    clock = DeadlineClock(policy, day_seconds=0.5)
    assert clock.next(Tier.CRITICAL_RESPONSE, "accepted", OPENED) == ("first_contact", OPENED + timedelta(seconds=1))


def test_the_clock_has_no_deadline_once_closed(policy):
    assert DeadlineClock(policy, day_seconds=1).next(Tier.CRI_TAC, Milestone.CLOSED, OPENED) is None
