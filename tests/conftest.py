"""Session fixtures: real PostgreSQL, a real Kafka-protocol broker and an SMTP sink, started once; the four
services as separate OS processes for end-to-end tests. Servers named by CRI_* variables are used instead."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import yaml

from services.routing.settings import RoutingSettings
from shared.runtime.db import create_pool, migrate
from shared.runtime.settings import BrokerKind
from system.stack.runner import (
    KAFKA_VERSION,
    SERVICES,
    Infrastructure,
    ServiceProcess,
    default_broker_kind,
    start_services,
)
from system.stack.tansu import TansuBroker
from tests.browser import CHROMIUM, Browser


def pytest_report_header() -> str:
    kind = default_broker_kind()
    version = KAFKA_VERSION if kind is BrokerKind.KAFKA else TansuBroker.version
    return f"broker: {kind.value} {version} (embedded unless CRI_KAFKA_BOOTSTRAP_SERVERS is set)"


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Infrastructure]:
    started = Infrastructure(tmp_path_factory.mktemp("cri")).start()
    # Shown in the log whatever the capture mode: which broker (and version) the suite really ran against.
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        access = "SASL/SCRAM logins, ACLs enforced" if started.kafka_users else "no logins, no ACLs"
        print(
            f"\nbroker: {started.broker_kind.value} {started.broker_version} at {started.bootstrap_servers} "
            f"({access}); database: {started.database_url}"
        )
    yield started
    started.stop()


@pytest.fixture(scope="session")
def system(infra: Infrastructure, monkeypatch_session: pytest.MonkeyPatch) -> Iterator[dict[str, ServiceProcess]]:
    """The four services, each its own process; started once per session (group joins are not free)."""
    # Tests open hundreds of engagements that never close: give every provider room for all of them.
    registry = yaml.safe_load(RoutingSettings().providers_file.read_text())
    for provider in registry["providers"]:
        provider["capacity"] = 100_000
    roomy = Path(infra.home) / "providers-roomy.yaml"
    roomy.write_text(yaml.safe_dump(registry))
    monkeypatch_session.setenv("CRI_PROVIDERS_FILE", str(roomy))
    services = start_services(infra, log_dir=Path(infra.home) / "logs")
    yield services
    for service in services.values():
        service.stop()


class PrivateSystem:
    """A system of its own (PostgreSQL, broker, SMTP sink, chosen services) for tests that need special
    configuration or break things (stop the broker, fill providers): nothing it does reaches other tests."""

    def __init__(self, home: Path) -> None:
        self.infra = Infrastructure(home)
        self.services: dict[str, ServiceProcess] = {}

    def start(self, names: tuple[str, ...] = SERVICES, env: dict[str, str] | None = None) -> "PrivateSystem":
        self.infra.start()
        self.services = start_services(self.infra, names, log_dir=self.infra.home / "logs", env=env)
        return self

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        self.infra.stop()


@pytest.fixture(scope="module")
def private_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., PrivateSystem]]:
    """Factory: `private_system(names=("intake",), env={"CRI_...": "..."})`, stopped at the end of the module."""
    started: list[PrivateSystem] = []

    def start(names: tuple[str, ...] = SERVICES, env: dict[str, str] | None = None) -> PrivateSystem:
        with pytest.MonkeyPatch.context() as patch:
            for variable in ("CRI_DATABASE_URL", "CRI_KAFKA_BOOTSTRAP_SERVERS", "CRI_SMTP_PORT"):
                patch.delenv(variable, raising=False)
            system = PrivateSystem(tmp_path_factory.mktemp("private"))
            started.append(system)
            return system.start(names, env)

    yield start
    for system in started:
        system.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A headless Chromium (tests/browser.py); the test is skipped where Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    opened = Browser(tmp_path / "profile")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="session")
async def db(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def schema_pool(infra: Infrastructure) -> AsyncIterator[Callable[[Path], Awaitable[asyncpg.Pool]]]:
    """Makes a pool on a fresh schema with a service's migrations (plumbing included) applied; dropped after."""
    made: list[tuple[str, asyncpg.Pool]] = []

    async def make(migrations: Path) -> asyncpg.Pool:
        schema = f"test_{uuid.uuid4().hex[:10]}"
        await migrate(infra.database_url, schema, migrations)
        pool = await create_pool(infra.database_url, schema, 3)
        made.append((schema, pool))
        return pool

    yield make
    for schema, pool in made:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()
