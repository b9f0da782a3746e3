"""The whole system on one machine: embedded PostgreSQL, a Kafka-protocol broker and an SMTP server when none
is configured, topics and ACLs from the catalog, and the four services as separate OS processes, each logged in
to Apache Kafka as its own principal."""

import asyncio
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.runtime.settings import BrokerKind, ServiceSettings
from system.access import SETUP, principals
from system.ops import login, login_env, setup_kafka
from system.stack import kafka_cluster
from system.stack.kafka import KafkaBroker, fetch_kafka_jars, write_secret
from system.stack.kafka_cluster import KafkaCluster
from system.stack.ports import Ports, port_open, terminate, wait_until
from system.stack.postgres import EmbeddedPostgres
from system.stack.tansu import TansuBroker

log = logging.getLogger(__name__)

SERVICES = ("intake", "routing", "engagements", "notify")


def service_command(name: str) -> list[str]:
    """How a service process is started, here and in docker-compose.yml (where `python` is the image's)."""
    return ["python", "-m", f"services.{name}"]


# The one Apache Kafka version of the embedded stack, the tests, docker-compose.yml and the docs (a test keeps
# them equal).
KAFKA_VERSION = "4.4.0"
# Program staff who can sign in on the embedded stack: an address nobody can own (.example is reserved), whose
# links land in the stack's Maildir like every email (`cri signin-link staff@cri-exchange.example`).
DEV_STAFF_EMAILS = {"staff@cri-exchange.example": "Program staff (development)"}
DATABASE = "cri"


def default_broker_kind() -> BrokerKind:
    """Apache Kafka where Java and Maven can assemble it; otherwise the pip-installed tansu."""
    chosen = os.environ.get("CRI_EMBEDDED_BROKER")
    if chosen:
        return BrokerKind(chosen)
    return BrokerKind.KAFKA if shutil.which("java") and shutil.which("mvn") else BrokerKind.TANSU


def embedded_kafka_brokers() -> int:
    """How many Apache Kafka brokers the embedded stack runs: 1, or a cluster of 3 (`CRI_KAFKA_BROKERS=3`)."""
    brokers = int(os.environ.get("CRI_KAFKA_BROKERS", "1"))
    if brokers not in (1, kafka_cluster.SIZE):
        raise ValueError(f"CRI_KAFKA_BROKERS={brokers}: the embedded Apache Kafka runs 1 or {kafka_cluster.SIZE}")
    return brokers


@dataclass
class Infrastructure:
    """The servers the services need; each is embedded unless its environment variable names one. Servers' own
    output goes to log files in `logs`."""

    home: Path
    ports: Ports = field(default_factory=Ports)
    broker_kind: BrokerKind = field(default_factory=default_broker_kind)
    database_url: str = ""
    bootstrap_servers: str = ""
    smtp_port: int = 0
    broker_version: str = ""
    # Principal -> SCRAM password on the embedded Apache Kafka; empty on tansu and external brokers.
    kafka_users: dict[str, str] = field(default_factory=dict)
    kafka_brokers: int = field(default_factory=embedded_kafka_brokers)
    _postgres: EmbeddedPostgres | None = None
    _broker: KafkaBroker | KafkaCluster | TansuBroker | None = None
    _smtp: subprocess.Popen | None = None

    def start(self) -> "Infrastructure":
        """Start what is embedded; each server is kept as soon as it is created, so that `stop()` also stops one
        interrupted while it starts."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.database_url = os.environ.get("CRI_DATABASE_URL", "")
        self.bootstrap_servers = os.environ.get("CRI_KAFKA_BOOTSTRAP_SERVERS", "")
        self.smtp_port = int(os.environ.get("CRI_SMTP_PORT", "0"))
        embedded = {
            "postgres": not self.database_url,
            "kafka": not self.bootstrap_servers,
            "kafka_controller": not self.bootstrap_servers and self.broker_kind is BrokerKind.KAFKA,
            "smtp_sink": not self.smtp_port,
        }
        self.ports.check_free([*(name for name, started_here in embedded.items() if started_here), *SERVICES])
        if not self.database_url:
            self._postgres = EmbeddedPostgres(
                self.home / "postgres", self.ports.of("postgres"), self.logs / "postgres.log"
            )
            self._postgres.start().create_database(DATABASE)
            self.database_url = self._postgres.database_url(DATABASE)
        if not self.bootstrap_servers:
            self._broker = self._broker_server()
            self.broker_version = self._broker.start().version
            self.bootstrap_servers = self._broker.bootstrap
        else:
            self.broker_version = f"external {self.broker_kind.value}"
            log.info("broker: external %s at %s", self.broker_kind.value, self.bootstrap_servers)
        if self.broker_kind is BrokerKind.TANSU:
            log.warning("tansu has no authorizer: any client that reaches it may read and write every topic")
        if not self.smtp_port:
            self.smtp_port = self.ports.of("smtp_sink")
            with open(self.logs / "mailsink.log", "ab") as log_file:
                self._smtp = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "system.stack.mailsink",
                        "--port",
                        str(self.smtp_port),
                        "--maildir",
                        str(self.maildir),
                    ],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            wait_until(lambda: port_open(self.smtp_port), timeout_s=15, what="the SMTP mail sink")
            log.info("SMTP sink ready on 127.0.0.1:%d, messages in %s", self.smtp_port, self.maildir)
        # In a thread of its own: the caller may itself be running an event loop (an async test, say).
        with ThreadPoolExecutor(max_workers=1) as worker:
            worker.submit(asyncio.run, setup_kafka(self.kafka_settings(SETUP))).result()
        return self

    def kafka_settings(self, principal: str) -> ServiceSettings:
        """The Kafka settings of a client logged in as `principal` (anonymous on tansu; on an external broker
        whoever the CRI_KAFKA_* variables name)."""
        return login(self.bootstrap_servers, self.kafka_users, principal)

    def kafka_env(self, principal: str) -> dict[str, str]:
        """The CRI_KAFKA_* variables that log a process (a service, `cri`) in as `principal`."""
        return login_env(self.kafka_settings(principal))

    @property
    def maildir(self) -> Path:
        return self.home / "mail"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def pids(self) -> dict[str, int]:
        """The process of each embedded server that runs, by name: postgres, broker (broker-2, broker-3 in a
        cluster), smtp-sink."""
        if isinstance(self._broker, KafkaCluster):
            brokers = self._broker.pids()
        else:
            brokers = {"broker": self._broker.pid if self._broker else None}
        started = {
            "postgres": self._postgres.pid if self._postgres else None,
            **brokers,
            "smtp-sink": self._smtp.pid if self._smtp else None,
        }
        return {name: pid for name, pid in started.items() if pid}

    @property
    def broker(self) -> KafkaBroker | KafkaCluster | TansuBroker | None:
        return self._broker

    @property
    def postgres(self) -> EmbeddedPostgres | None:
        return self._postgres

    def _broker_server(self) -> KafkaBroker | KafkaCluster | TansuBroker:
        if self.broker_kind is BrokerKind.TANSU:
            if self.kafka_brokers > 1:
                raise ValueError("CRI_KAFKA_BROKERS: a cluster needs Apache Kafka (CRI_EMBEDDED_BROKER=kafka)")
            return TansuBroker(self.logs, self.ports.of("kafka"))
        self.kafka_users = self._load_or_make_users()
        lib_dir = fetch_kafka_jars(KAFKA_VERSION, Path(os.environ.get("CRI_CACHE_DIR", Path.home() / ".cache" / "cri")))
        if self.kafka_brokers > 1:
            ports = zip(
                self.ports.series("kafka", self.kafka_brokers),
                self.ports.series("kafka_controller", self.kafka_brokers),
                strict=True,
            )
            return KafkaCluster(
                lib_dir,
                self.home / "kafka",
                list(ports),
                log_dir=self.logs,
                users=self.kafka_users,
                superusers=[SETUP],
            )
        return KafkaBroker(
            lib_dir,
            self.home / "kafka",
            self.ports.of("kafka"),
            self.ports.of("kafka_controller"),
            users=self.kafka_users,
            superusers=[SETUP],
            log_path=self.logs / "kafka.log",
        )

    def _load_or_make_users(self) -> dict[str, str]:
        """A password per principal, made with the broker's storage and kept beside it (0600): a durable log
        formatted with them only ever accepts them."""
        path = self.home / "kafka-users.json"
        # A single broker's storage is kafka/kafka-logs, a cluster's kafka/node-N/kafka-logs.
        formatted = any((self.home / "kafka").glob("**/kafka-logs/meta.properties"))
        if formatted and path.is_file():
            return json.loads(path.read_text())
        if formatted:
            raise RuntimeError(f"{self.home / 'kafka'} was made before Kafka logins and ACLs: delete it to start anew")
        users = {principal: secrets.token_urlsafe(24) for principal in principals()}
        write_secret(path, json.dumps(users))
        return users

    def service_env(self, service: str, http_port: int) -> dict[str, str]:
        return {
            # A staff address for trying the pages (docs/security.md); the caller's own CRI_STAFF_EMAILS wins.
            "CRI_STAFF_EMAILS": json.dumps(DEV_STAFF_EMAILS),
            **os.environ,
            "CRI_DATABASE_URL": self.database_url,
            **self.kafka_env(f"cri-{service}"),
            "CRI_BROKER_KIND": self.broker_kind.value,
            "CRI_SMTP_HOST": "127.0.0.1",
            "CRI_SMTP_PORT": str(self.smtp_port),
            "CRI_HTTP_PORT": str(http_port),
        }

    def stop(self) -> None:
        if self._smtp is not None:
            terminate(self._smtp)
        if self._broker is not None:
            self._broker.stop()
        if self._postgres is not None:
            self._postgres.stop()


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, *service_command(self.name)[1:]],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        wait_until(
            self._ready, timeout_s=timeout_s, what=f"{self.name} to be ready (log: {self.log_path})", interval_s=0.25
        )
        log.info("%s ready at %s, log %s", self.name, self.url, self.log_path)

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, grace_s: float = 15.0) -> None:
        if self.process is not None:
            terminate(self.process, grace_s=grace_s)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_services(
    infra: Infrastructure,
    names: tuple[str, ...] = SERVICES,
    *,
    log_dir: Path | None = None,
    env: dict[str, str] | None = None,
    started: Callable[[ServiceProcess], object] | None = None,
) -> dict[str, ServiceProcess]:
    """Start each service as its own process (with `env` added to its environment; `started` is told of each at
    once) and wait until all are ready."""
    log_dir = log_dir or infra.logs
    # The other services' pages send people to intake to sign in, and ask it who a session is; intake's "my
    # requests" page reads an assessment's recommendations from engagements; engagements' dashboard links the
    # requests waiting for staff to routing's triage pages.
    # Chosen once: without a fixed port, each call of `ports.of` picks another free one.
    ports = {name: infra.ports.of(name) for name in names}
    urls = {
        f"CRI_{name.upper()}_URL": f"http://127.0.0.1:{ports[name]}"
        for name in ("intake", "routing", "engagements")
        if name in names
    }
    services = {}
    for name, port in ports.items():
        service_env = {**infra.service_env(name, port), **urls, **(env or {})}
        services[name] = ServiceProcess(name, port, service_env, log_dir / f"{name}.log").start()
        if started is not None:
            started(services[name])
    for service in services.values():
        service.wait_ready()
    return services
