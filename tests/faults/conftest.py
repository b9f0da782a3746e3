"""The system the cluster fault tests break: its own PostgreSQL, SMTP sink and services over a three-broker
Apache Kafka cluster (CRI_KAFKA_BROKERS=3), one per test module."""

import time
from pathlib import Path

import pytest

from tests.faults import chaos


@pytest.fixture(scope="module")
def cluster_system(private_system, tmp_path_factory, pytestconfig):
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRI_KAFKA_BROKERS", "3")
        system = private_system(env=chaos.roomy_env(Path(tmp_path_factory.mktemp("cluster"))))
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(
            f"\nthree-broker system up in {time.monotonic() - started:.1f}s "
            f"(PostgreSQL, Kafka cluster at {system.infra.bootstrap_servers}, SMTP sink, four services)"
        )
    return system
