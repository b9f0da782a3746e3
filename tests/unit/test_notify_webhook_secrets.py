"""One signing secret per webhook receiver, not one for all (issue 16): every configured receiver (the staff
webhook, each provider's) has its own, notify refuses to start otherwise, and a webhook is signed with its
receiver's secret only."""

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import ValidationError

from services.notify.app import create_app
from services.notify.channels import SIGNATURE_HEADER, Channels
from services.notify.domain.deliveries import DeliveryFailed
from services.notify.domain.rendering import render
from services.notify.domain.signatures import MIN_SECRET_LENGTH, WebhookSecretsError, receiver_secrets, verify
from services.notify.settings import NotifySettings
from services.notify.smtp import SmtpSessions
from tests.unit.test_notify_planning import STAFF, facts, needs_review, only, plan

STAFF_HOOK = "https://hooks.example/cri"
IACP_HOOK = "https://hooks.iacp.example.org/cri"
STAFF_SECRET = "staff-secret-0123456789"
IACP_SECRET = "iacp-secret-0123456789"


def test_each_receiver_gets_its_own_secret():
    receivers = {"staff": STAFF_HOOK, "provider iacp": IACP_HOOK, "provider none": None}
    secrets = {STAFF_HOOK: STAFF_SECRET, IACP_HOOK: IACP_SECRET, "https://unused.example/": "unused-secret-0123"}
    assert receiver_secrets(receivers, secrets) == {STAFF_HOOK: STAFF_SECRET, IACP_HOOK: IACP_SECRET}


def test_no_receiver_needs_no_secret():
    assert receiver_secrets({"staff": None}, {}) == {}


def test_a_receiver_without_a_secret_is_refused_by_name():
    with pytest.raises(WebhookSecretsError, match=rf"provider iacp \({IACP_HOOK}\) has no signing secret"):
        receiver_secrets({"staff": STAFF_HOOK, "provider iacp": IACP_HOOK}, {STAFF_HOOK: STAFF_SECRET})


def test_an_empty_secret_is_no_secret():
    with pytest.raises(WebhookSecretsError, match="has no signing secret"):
        receiver_secrets({"staff": STAFF_HOOK}, {STAFF_HOOK: ""})


def test_two_receivers_sharing_a_secret_are_refused_without_showing_it():
    secrets = {STAFF_HOOK: STAFF_SECRET, IACP_HOOK: STAFF_SECRET}
    with pytest.raises(WebhookSecretsError, match="share one signing secret: each needs its own") as refused:
        receiver_secrets({"staff": STAFF_HOOK, "provider iacp": IACP_HOOK}, secrets)
    assert STAFF_HOOK in str(refused.value) and IACP_HOOK in str(refused.value)
    assert STAFF_SECRET not in str(refused.value)


def test_two_providers_on_one_url_are_one_receiver_with_one_secret():
    shared = "https://hooks.consortium.example/cri"
    receivers = {"provider a": shared, "provider b": shared}
    assert receiver_secrets(receivers, {shared: STAFF_SECRET}) == {shared: STAFF_SECRET}


def test_a_short_secret_is_refused():
    with pytest.raises(WebhookSecretsError, match=f"shorter than {MIN_SECRET_LENGTH} characters"):
        receiver_secrets({"staff": STAFF_HOOK}, {STAFF_HOOK: "short"})


def test_every_problem_is_told_at_once():
    with pytest.raises(WebhookSecretsError) as refused:
        receiver_secrets({"staff": STAFF_HOOK, "provider iacp": IACP_HOOK}, {STAFF_HOOK: "short"})
    assert "shorter than" in str(refused.value) and "provider iacp" in str(refused.value)


def test_the_setting_reads_json_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRI_WEBHOOK_SECRETS", json.dumps({STAFF_HOOK: STAFF_SECRET}))
    settings = NotifySettings()
    assert {url: secret.get_secret_value() for url, secret in settings.webhook_secrets.items()} == {
        STAFF_HOOK: STAFF_SECRET
    }
    assert STAFF_SECRET not in repr(settings)


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_setting_is_no_secrets(monkeypatch, value):
    monkeypatch.setenv("CRI_WEBHOOK_SECRETS", value)
    assert NotifySettings().webhook_secrets == {}


@pytest.mark.parametrize("value", ['{"https://hooks.example/cri": ', '["a"]', '{"https://hooks.example/cri": 7}'])
def test_a_malformed_setting_names_the_variable_and_not_the_secret(monkeypatch, value):
    monkeypatch.setenv("CRI_WEBHOOK_SECRETS", value)
    with pytest.raises(ValidationError, match="CRI_WEBHOOK_SECRETS") as refused:
        NotifySettings()
    assert "hooks.example" not in str(refused.value)


def test_notify_refuses_to_start_when_a_provider_webhook_has_no_secret(tmp_path: Path):
    preferences = tmp_path / "preferences.yaml"
    preferences.write_text(yaml.safe_dump({"provider_webhooks": {"iacp": IACP_HOOK}}))
    settings = NotifySettings(
        preferences_file=preferences, staff_webhook_url=STAFF_HOOK, webhook_secrets={STAFF_HOOK: STAFF_SECRET}
    )
    with pytest.raises(WebhookSecretsError, match="provider iacp's webhook"):
        create_app(settings)


def test_notify_refuses_to_start_when_staff_and_a_provider_share_a_secret(tmp_path: Path):
    preferences = tmp_path / "preferences.yaml"
    preferences.write_text(yaml.safe_dump({"provider_webhooks": {"iacp": IACP_HOOK}}))
    settings = NotifySettings(
        preferences_file=preferences,
        staff_webhook_url=STAFF_HOOK,
        webhook_secrets={STAFF_HOOK: STAFF_SECRET, IACP_HOOK: STAFF_SECRET},
    )
    with pytest.raises(WebhookSecretsError, match="share one signing secret"):
        create_app(settings)


def test_notify_starts_without_webhooks_and_without_secrets():
    create_app(NotifySettings(staff_webhook_url=None, webhook_secrets={}))


async def _send_staff_hook(secrets: dict[str, str]) -> httpx.Request:
    sent: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    settings = NotifySettings(smtp_sessions=1)
    request = facts()
    hook = only(plan(needs_review(request), request), "review_needed_staff", "webhook")
    assert hook.address == STAFF.webhook_url == STAFF_HOOK
    async with httpx.AsyncClient(transport=httpx.MockTransport(receive)) as http:
        await Channels(settings, http, SmtpSessions(settings), secrets)._webhook(uuid.uuid4(), hook, render(hook))
    return sent[0]


async def test_a_webhook_is_signed_with_its_receivers_own_secret():
    sent = await _send_staff_hook({STAFF_HOOK: STAFF_SECRET, IACP_HOOK: IACP_SECRET})
    header = sent.headers[SIGNATURE_HEADER]
    assert verify(sent.content, header, STAFF_SECRET, tolerance_s=300, now=time.time())
    assert not verify(sent.content, header, IACP_SECRET, tolerance_s=300, now=time.time())


async def test_a_receiver_without_a_secret_is_never_signed_for_with_another():
    with pytest.raises(DeliveryFailed, match="no signing secret") as failed:
        await _send_staff_hook({IACP_HOOK: IACP_SECRET})
    assert failed.value.permanent


def test_an_empty_staff_webhook_url_is_no_staff_webhook(monkeypatch):
    """Compose passes CRI_STAFF_WEBHOOK_URL through whether the operator set it or not."""
    monkeypatch.setenv("CRI_STAFF_WEBHOOK_URL", "")
    assert NotifySettings().staff_webhook_url is None
    monkeypatch.setenv("CRI_STAFF_WEBHOOK_URL", STAFF_HOOK)
    assert NotifySettings().staff_webhook_url == STAFF_HOOK
