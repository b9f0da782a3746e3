"""API keys from configuration: parsed at start (refused with a message that never repeats a key), identified in
constant time, and answered 401 (no or unknown key) or 403 (a role not admitted)."""

import json

import pytest
from fastapi import HTTPException
from pydantic import ValidationError

from shared.runtime.auth import DEV_API_KEYS, Principal, Role, authorize, identify
from shared.runtime.settings import ServiceSettings

SECRET = "k-7f3a9c1e5b2d4f60"


def settings_with(monkeypatch: pytest.MonkeyPatch, api_keys: str) -> ServiceSettings:
    monkeypatch.setenv("CRI_API_KEYS", api_keys)
    return ServiceSettings()


def test_without_configuration_only_the_embedded_stacks_staff_and_service_keys_exist(monkeypatch):
    monkeypatch.delenv("CRI_API_KEYS", raising=False)
    assert ServiceSettings().api_keys == DEV_API_KEYS
    assert {p.role for p in DEV_API_KEYS.values()} == {Role.STAFF, Role.SERVICE}


def test_a_json_object_names_each_keys_role_and_subject(monkeypatch):
    settings = settings_with(monkeypatch, f'{{"{SECRET}": {{"role": "provider", "subject": "iacp"}}}}')
    assert settings.api_keys == {SECRET: Principal(role=Role.PROVIDER, subject="iacp")}


def test_configured_keys_replace_the_embedded_ones(monkeypatch):
    settings = settings_with(monkeypatch, f'{{"{SECRET}": {{"role": "staff", "subject": "a.rivera"}}}}')
    assert not DEV_API_KEYS.keys() & settings.api_keys.keys()


def test_keys_that_are_not_json_are_refused_at_start_naming_the_variable(monkeypatch):
    with pytest.raises(ValidationError, match="CRI_API_KEYS is not valid JSON") as refused:
        settings_with(monkeypatch, f'{{"{SECRET}": ')
    assert SECRET not in str(refused.value)


def test_a_list_instead_of_an_object_is_refused_at_start(monkeypatch):
    with pytest.raises(ValidationError, match="CRI_API_KEYS must be a JSON object"):
        settings_with(monkeypatch, f'["{SECRET}"]')


def test_an_unknown_role_is_refused_at_start_with_the_roles_allowed_and_without_the_key(monkeypatch):
    with pytest.raises(ValidationError, match=r"CRI_API_KEYS entry 2: role: .*'agency', 'provider'") as refused:
        keys = {"another-long-key-1": {"role": "staff", "subject": "s"}, SECRET: {"role": "boss", "subject": "x"}}
        settings_with(monkeypatch, json.dumps(keys))
    assert SECRET not in str(refused.value)


def test_a_principal_without_a_subject_is_refused_at_start(monkeypatch):
    with pytest.raises(ValidationError, match="CRI_API_KEYS entry 1: subject"):
        settings_with(monkeypatch, f'{{"{SECRET}": {{"role": "agency"}}}}')


def test_a_short_key_is_refused_at_start(monkeypatch):
    with pytest.raises(ValidationError, match="at least 16 characters"):
        settings_with(monkeypatch, '{"guessable": {"role": "staff", "subject": "s"}}')


KEYS = {SECRET: Principal(role=Role.PROVIDER, subject="iacp"), "s" * 16: Principal(role=Role.STAFF, subject="s")}


def test_a_known_key_identifies_its_principal_and_any_other_string_nobody():
    assert identify(KEYS, SECRET) == KEYS[SECRET]
    assert identify(KEYS, SECRET[:-1]) is None
    assert identify(KEYS, "") is None


@pytest.mark.parametrize("given", [None, "", "not-a-key-at-all-0000"])
def test_no_or_an_unknown_key_is_401_with_a_bearer_challenge(given):
    with pytest.raises(HTTPException) as refused:
        authorize(KEYS, given, frozenset({Role.PROVIDER}))
    assert (refused.value.status_code, refused.value.headers) == (401, {"WWW-Authenticate": "Bearer"})


def test_a_known_key_of_a_role_not_admitted_is_403():
    with pytest.raises(HTTPException) as refused:
        authorize(KEYS, SECRET, frozenset({Role.STAFF, Role.SERVICE}))
    assert refused.value.status_code == 403


def test_a_known_key_of_an_admitted_role_is_its_principal():
    assert authorize(KEYS, SECRET, frozenset({Role.PROVIDER, Role.STAFF})) == KEYS[SECRET]
