"""docker-compose.yml: valid, scalable, running the services exactly as the embedded stack does, on the same
Apache Kafka version as the embedded stack, the tests and the docs."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.contract import topics
from system.access import SETUP, principals
from system.stack.kafka import BROKER_USER, security_properties
from system.stack.runner import KAFKA_VERSION, SERVICES, service_command

COMPOSE_FILE = Path(__file__).parents[2] / "docker-compose.yml"
CLUSTER_FILE = COMPOSE_FILE.with_name("docker-compose.kafka3.yml")
API_KEYS = '{"a-long-enough-staff-key": {"role": "staff", "subject": "ops"}}'
SCALABLE = ("routing", "notify")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is missing")


# Every secret a deployment must give, one Kafka password per principal included.
SECRETS = {
    "CRI_API_KEYS": API_KEYS,
    "CRI_WEBHOOK_SECRETS": '{"https://hooks.example.gov/cri-staff": "a-webhook-signing-secret"}',
    **{f"CRI_KAFKA_PASSWORD_{p.removeprefix('cri-').upper()}": f"pw-{p}" for p in [BROKER_USER, *principals()]},
}


def compose_config(*files: Path, quiet: bool = True, **env: str) -> subprocess.CompletedProcess:
    """`docker-compose config` of docker-compose.yml and the override `files`."""
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    named = [arg for file in (COMPOSE_FILE, *files) for arg in ("-f", str(file))]
    return subprocess.run(
        ["docker-compose", *named, "config", *(["-q"] if quiet else [])],
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


def test_compose_the_embedded_stack_and_the_docs_name_one_kafka_version(compose):
    cluster = yaml.safe_load(CLUSTER_FILE.read_text())
    images = {
        compose["services"]["kafka"]["image"],
        *(s["image"] for s in cluster["services"].values() if "image" in s),
    }
    assert images == {f"apache/kafka:{KAFKA_VERSION}"}
    root = COMPOSE_FILE.parent
    named = {
        f"{path.relative_to(root)}: {version}"
        for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
        for version in re.findall(r"(?:Apache Kafka|apache/kafka:) ?(\d+\.\d+\.\d+)", path.read_text())
    }
    assert named, "the docs name no Apache Kafka version"
    assert {entry.rsplit(" ", 1)[1] for entry in named} == {KAFKA_VERSION}, sorted(named)


@pytest.fixture(scope="module")
def cluster() -> dict:
    """docker-compose.yml with docker-compose.kafka3.yml over it, as compose merges them."""
    result = compose_config(CLUSTER_FILE, quiet=False, **SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@needs_compose
def test_the_cluster_file_validates_over_the_compose_file():
    result = compose_config(CLUSTER_FILE, **SECRETS)
    assert result.returncode == 0, result.stderr


@needs_compose
def test_the_cluster_runs_three_brokers_and_controllers_that_know_each_other(cluster):
    nodes = {name: cluster["services"][name]["environment"] for name in ("kafka", "kafka-2", "kafka-3")}
    assert {env["KAFKA_NODE_ID"] for env in nodes.values()} == {"1", "2", "3"}
    assert {env["KAFKA_PROCESS_ROLES"] for env in nodes.values()} == {"broker,controller"}
    assert {env["CLUSTER_ID"] for env in nodes.values()} == {nodes["kafka"]["CLUSTER_ID"]}
    voters = {f"{env['KAFKA_NODE_ID']}@{name}:9093" for name, env in nodes.items()}
    assert {frozenset(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) for env in nodes.values()} == {
        frozenset(voters)
    }
    assert {name: env["KAFKA_ADVERTISED_LISTENERS"] for name, env in nodes.items()} == {
        name: f"SASL://{name}:9092" for name in nodes
    }
    # Internal topics as replicated as the catalog's topics; each node keeps its own data.
    for env in nodes.values():
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == str(topics.REPLICATION_FACTOR)
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == str(topics.MIN_INSYNC_REPLICAS)
    volumes = [cluster["services"][name]["volumes"][0].split(":")[0] for name in nodes]
    assert len(set(volumes)) == 3


@needs_compose
def test_every_node_of_the_cluster_is_secured_like_the_single_broker(cluster, compose):
    """The same script on each node (SASL/SCRAM logins formatted in, SASL between brokers and to the controllers,
    the authorizer and its super users), with the same passwords."""
    single = compose["services"]["kafka"]
    for name in ("kafka", "kafka-2", "kafka-3"):
        node = cluster["services"][name]
        assert node["command"] == single["command"] and node["entrypoint"] == single["entrypoint"], name
        for principal in [BROKER_USER, *principals()]:
            variable = f"CRI_KAFKA_PASSWORD_{principal.removeprefix('cri-').upper()}"
            assert node["environment"][variable] == SECRETS[variable], (name, variable)


@needs_compose
@pytest.mark.parametrize("service", ("setup", *SERVICES))
def test_with_the_cluster_every_service_bootstraps_from_the_three_brokers(cluster, service):
    env = cluster["services"][service]["environment"]
    assert env["CRI_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092,kafka-2:9092,kafka-3:9092"
    assert env["CRI_API_KEYS"] == API_KEYS  # the rest of the environment is docker-compose.yml's


@needs_compose
def test_with_the_cluster_setup_waits_for_the_three_brokers(cluster):
    depends = cluster["services"]["setup"]["depends_on"]
    assert {name for name, wait in depends.items() if wait == {"condition": "service_healthy"}} >= {
        "kafka",
        "kafka-2",
        "kafka-3",
    }


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
