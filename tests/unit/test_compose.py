"""docker-compose.yml: valid, scalable, and running the services exactly as the embedded stack does."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from system.access import SETUP, principals
from system.stack.kafka import BROKER_USER, security_properties
from system.stack.runner import SERVICES, service_command

COMPOSE_FILE = Path(__file__).parents[2] / "docker-compose.yml"
SCALABLE = ("routing", "notify")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is missing")


# Every secret a deployment must give, one Kafka password per principal included.
SECRETS = {
    "CRI_API_KEYS": '{"a-long-enough-staff-key": {"role": "staff", "subject": "ops"}}',
    "CRI_WEBHOOK_SECRETS": '{"https://hooks.example.gov/cri-staff": "a-webhook-signing-secret"}',
    **{f"CRI_KAFKA_PASSWORD_{p.removeprefix('cri-').upper()}": f"pw-{p}" for p in [BROKER_USER, *principals()]},
}


def compose_config(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env={**clean, **env},
    )


@needs_compose
def test_the_compose_file_validates():
    result = compose_config(**SECRETS)
    assert result.returncode == 0, result.stderr


@needs_compose
@pytest.mark.parametrize("secret", SECRETS)
def test_a_deployment_missing_any_secret_is_refused(secret):
    result = compose_config(**{name: value for name, value in SECRETS.items() if name != secret})
    assert result.returncode != 0
    assert f"set {secret}" in result.stderr


def test_the_broker_is_formatted_with_a_login_per_principal_and_secured_like_the_embedded_one(compose):
    script = compose["services"]["kafka"]["command"][0].replace("$$", "$")
    (listed,) = re.findall(r"for principal in ([^;]+);", script)
    assert sorted(listed.split()) == sorted([BROKER_USER, *principals()])
    password = "$CRI_KAFKA_PASSWORD_BROKER"
    login = f'username="{BROKER_USER}" password="{password}"'
    for key, value in security_properties(password, [SETUP]).items():
        assert f"\n{key}={value.replace(login, '$login')}\n" in script, key


@pytest.mark.parametrize("service", [*SERVICES, "setup"])
def test_each_process_logs_in_to_kafka_as_its_own_principal(compose, service):
    env = compose["services"][service]["environment"]
    principal = SETUP if service == "setup" else f"cri-{service}"
    assert env["CRI_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert env["CRI_KAFKA_SASL_USERNAME"] == principal
    variable = f"CRI_KAFKA_PASSWORD_{principal.removeprefix('cri-').upper()}"
    assert env["CRI_KAFKA_SASL_PASSWORD"].startswith(f"${{{variable}:?")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_the_command_of_the_embedded_stack(compose, service):
    assert compose["services"][service]["command"] == service_command(service)


@pytest.mark.parametrize("service", SCALABLE)
def test_scalable_services_publish_no_fixed_host_port(compose, service):
    assert "ports" not in compose["services"][service]


@pytest.mark.parametrize("service", SERVICES)
def test_services_wait_for_the_setup_job_and_healthy_servers(compose, service):
    depends = compose["services"][service]["depends_on"]
    assert depends["setup"] == {"condition": "service_completed_successfully"}
    assert depends["kafka"] == {"condition": "service_healthy"}
    assert depends["postgres"] == {"condition": "service_healthy"}


def test_the_image_runs_as_a_non_root_user():
    dockerfile = (COMPOSE_FILE.parent / "Dockerfile").read_text()
    assert "\nUSER cri\n" in dockerfile


def test_notify_signs_each_webhook_receivers_webhooks_with_its_own_secret(compose):
    env = compose["services"]["notify"]["environment"]
    assert env["CRI_WEBHOOK_SECRETS"].startswith("${CRI_WEBHOOK_SECRETS:?")
    assert "CRI_WEBHOOK_SECRET" not in env  # one secret for all receivers is gone (issue 16)


class _UniqueKeys(yaml.SafeLoader):
    """YAML's loaders keep the last of two equal keys silently: a second `environment:` of a service (as a merge
    once left intake's) would drop the first, Kafka login and all."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode) and key.value != "<<"]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        assert not repeated, f"{repeated} given twice at {node.start_mark}"
        return super().construct_mapping(node, deep=deep)


def test_no_key_is_given_twice():
    yaml.load(COMPOSE_FILE.read_text(), _UniqueKeys)  # noqa: S506 - a SafeLoader
