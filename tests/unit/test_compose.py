"""docker-compose.yml: valid, scalable, running the services exactly as the embedded stack does, on the same
Apache Kafka version as the embedded stack, the tests and the docs."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from system.stack.runner import KAFKA_VERSION, SERVICES, service_command

COMPOSE_FILE = Path(__file__).parents[2] / "docker-compose.yml"
SCALABLE = ("routing", "notify")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is missing")


def compose_config(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "CRI_API_KEYS"}
    return subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env={**clean, **env},
    )


@needs_compose
def test_the_compose_file_validates():
    result = compose_config(CRI_API_KEYS='{"a-long-enough-staff-key": {"role": "staff", "subject": "ops"}}')
    assert result.returncode == 0, result.stderr


@needs_compose
def test_a_deployment_without_api_keys_is_refused():
    result = compose_config()
    assert result.returncode != 0
    assert "set CRI_API_KEYS" in result.stderr


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


def test_compose_the_embedded_stack_and_the_docs_name_one_kafka_version(compose):
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    root = COMPOSE_FILE.parent
    named = {
        f"{path.relative_to(root)}: {version}"
        for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
        for version in re.findall(r"(?:Apache Kafka|apache/kafka:) ?(\d+\.\d+\.\d+)", path.read_text())
    }
    assert named, "the docs name no Apache Kafka version"
    assert {entry.rsplit(" ", 1)[1] for entry in named} == {KAFKA_VERSION}, sorted(named)
