"""Recipients' preferences file: read and validated at start; provider webhooks come from it by provider id."""

from pathlib import Path

import pytest
import yaml

from services.notify.domain.preferences import Preferences, PreferencesError, RecipientPreferences, load_preferences
from services.notify.domain.recipients import Recipient
from shared.contract.events import ProviderRef
from tests.unit.test_notify_planning import (
    NO_PREFERENCES,
    PROVIDER,
    STAFF,
    deadline_missed,
    facts,
    needs_review,
    only,
    plan,
    routed,
    who,
)

HOOK = "https://hooks.npi.example.org/cri"


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "preferences.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def test_without_a_file_everyone_gets_the_default_channels():
    assert load_preferences(None) == Preferences()


def test_an_empty_file_means_the_default_channels(tmp_path):
    assert load_preferences(write(tmp_path, "")) == Preferences()


def test_a_file_sets_channels_opt_outs_and_provider_webhooks(tmp_path):
    path = write(
        tmp_path,
        {
            "by_address": {"JLee@Springfield.example.gov": {"opted_out": ["request_received"]}},
            "provider_webhooks": {"npi": HOOK},
        },
    )
    assert load_preferences(path) == Preferences(
        by_address={"jlee@springfield.example.gov": RecipientPreferences(opted_out=frozenset({"request_received"}))},
        provider_webhooks={"npi": HOOK},
    )


def test_a_provider_with_a_webhook_hears_of_its_assignment_by_email_and_webhook():
    request = facts()
    planned = plan(routed(request), request, Preferences(provider_webhooks={PROVIDER.provider_id: HOOK}))
    assert {("assignment_provider", "provider", "email"), ("assignment_provider", "provider", "webhook")} <= who(
        planned
    )
    assert only(planned, "assignment_provider", "webhook").address == HOOK


def test_a_provider_without_a_mailbox_can_choose_its_webhook_alone():
    request = facts()
    hook_only = ProviderRef(provider_id="npi", name="National Policing Institute")
    preferences = Preferences(
        by_address={HOOK: RecipientPreferences(channels=frozenset({"webhook"}))}, provider_webhooks={"npi": HOOK}
    )
    planned = plan(routed(request, provider=hook_only), request, preferences)
    assert [p.channel for p in planned if p.recipient.role == "provider"] == ["webhook"]


def test_a_provider_webhook_belongs_to_its_provider_only():
    request = facts()
    other = ProviderRef(provider_id="oa-provider", name="Assessment provider", contact_email="oa@example.org")
    planned = plan(routed(request, provider=other), request, Preferences(provider_webhooks={"npi": HOOK}))
    assert [p.channel for p in planned if p.recipient.role == "provider"] == ["email"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"by_address": {"a@example.org": {"opted_out": ["request_recieved"]}}}, "unknown message kinds"),
        ({"by_address": {"a@example.org": {"channels": ["sms"]}}}, "by_address.a@example.org.channels"),
        ({"provider_webhooks": {"npi": "ftp://hooks.example.org"}}, "not an http(s) URL"),
        ({"recipients": {}}, "recipients: Extra inputs are not permitted"),
        ("by_address: [unclosed", "preferences.yaml:1:22: expected ',' or ']'"),
    ],
)
def test_an_invalid_file_is_refused_with_the_reason(tmp_path, content, reason):
    with pytest.raises(PreferencesError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        load_preferences(write(tmp_path, content))


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(PreferencesError, match="cannot read"):
        load_preferences(tmp_path / "absent.yaml")


def test_by_default_everyone_gets_email_and_webhook_goes_where_a_url_exists():
    mail_only = Recipient(role="staff", name="Staff", email="staff@example.gov")
    assert NO_PREFERENCES.channels_for(mail_only, "review_needed_staff") == ["email"]
    assert NO_PREFERENCES.channels_for(STAFF, "review_needed_staff") == ["email", "webhook"]


def test_an_opted_out_kind_is_not_planned_for_that_recipient():
    request = facts()
    staff_opted_out = RecipientPreferences(opted_out=frozenset({"deadline_missed_staff"}))
    planned = plan(deadline_missed(request), request, Preferences(by_address={STAFF.email: staff_opted_out}))
    assert who(planned) == {("deadline_missed_provider", "provider", "email")}


def test_channel_preferences_limit_the_channels():
    request = facts()
    preferences = Preferences(by_address={STAFF.email: RecipientPreferences(channels=frozenset({"webhook"}))})
    assert who(plan(needs_review(request), request, preferences)) == {("review_needed_staff", "staff", "webhook")}


def test_preferences_match_an_email_address_whatever_its_case():
    request = facts()
    agency_opted_out = RecipientPreferences(opted_out=frozenset({"request_routed_agency"}))
    preferences = Preferences(by_address={"JLee@Springfield.example.gov": agency_opted_out})
    assert who(plan(routed(request), request, preferences)) == {("assignment_provider", "provider", "email")}
