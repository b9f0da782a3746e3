"""The whole system on one machine: embedded PostgreSQL, a Kafka-protocol broker and an SMTP server when none
is configured, topics from the catalog, and the four services as separate OS processes."""

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.runtime.broker import ensure_topics
from shared.runtime.settings import BrokerKind
from system.stack.kafka import KafkaBroker, fetch_kafka_jars
from system.stack.ports import free_port, port_open, terminate, wait_until
from system.stack.postgres import EmbeddedPostgres
from system.stack.tansu import TansuBroker

log = logging.getLogger(__name__)

SERVICES = ("intake", "routing", "engagements", "notify")


def service_command(name: str) -> list[str]:
    """How a service process is started, here and in docker-compose.yml (where `python` is the image's)."""
    return ["python", "-m", f"services.{name}"]


KAFKA_VERSION = os.environ.get("CRI_KAFKA_VERSION", "4.4.0")
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


@dataclass
class Infrastructure:
    """The servers the services need; each is embedded unless its environment variable names one."""

    home: Path
    broker_kind: BrokerKind = field(default_factory=default_broker_kind)
    database_url: str = ""
    bootstrap_servers: str = ""
    smtp_port: int = 0
    broker_version: str = ""
    _postgres: EmbeddedPostgres | None = None
    _broker: KafkaBroker | TansuBroker | None = None
    _smtp: subprocess.Popen | None = None

    def start(self) -> "Infrastructure":
        self.home.mkdir(parents=True, exist_ok=True)
        self.database_url = os.environ.get("CRI_DATABASE_URL", "")
        if not self.database_url:
            self._postgres = EmbeddedPostgres(self.home / "postgres").start()
            self._postgres.create_database(DATABASE)
            self.database_url = self._postgres.database_url(DATABASE)
        self.bootstrap_servers = os.environ.get("CRI_KAFKA_BOOTSTRAP_SERVERS", "")
        if not self.bootstrap_servers:
            self._broker = self._start_broker()
            self.bootstrap_servers = self._broker.bootstrap
        else:
            self.broker_version = f"external {self.broker_kind.value}"
        log.info("broker: %s %s at %s", self.broker_kind.value, self.broker_version, self.bootstrap_servers)
        self.smtp_port = int(os.environ.get("CRI_SMTP_PORT", "0"))
        if not self.smtp_port:
            self.smtp_port = free_port()
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
                start_new_session=True,
            )
            wait_until(lambda: port_open(self.smtp_port), timeout_s=15, what="the SMTP mail sink")
        # In a thread of its own: the caller may itself be running an event loop (an async test, say).
        with ThreadPoolExecutor(max_workers=1) as worker:
            worker.submit(asyncio.run, ensure_topics(self.bootstrap_servers)).result()
        return self

    def pids(self) -> dict[str, int]:
        """The embedded servers' processes by name (PostgreSQL's postmaster, the broker, the SMTP mail sink)."""
        named = {
            "PostgreSQL": self._postgres.pid if self._postgres else None,
            "broker": self._broker.pid if self._broker else None,
            "SMTP sink": self._smtp.pid if self._smtp else None,
        }
        return {name: pid for name, pid in named.items() if pid is not None}

    @property
    def maildir(self) -> Path:
        return self.home / "mail"

    @property
    def broker(self) -> KafkaBroker | TansuBroker | None:
        return self._broker

    @property
    def postgres(self) -> EmbeddedPostgres | None:
        return self._postgres

    def _start_broker(self) -> KafkaBroker | TansuBroker:
        if self.broker_kind is BrokerKind.KAFKA:
            lib_dir = fetch_kafka_jars(
                KAFKA_VERSION, Path(os.environ.get("CRI_CACHE_DIR", Path.home() / ".cache" / "cri"))
            )
            broker = KafkaBroker(lib_dir, self.home / "kafka").start()
        else:
            broker = TansuBroker(self.home / "tansu").start()
        self.broker_version = broker.version
        return broker

    def service_env(self, service: str, http_port: int) -> dict[str, str]:
        return {
            # A staff address for trying the pages (docs/security.md); the caller's own CRI_STAFF_EMAILS wins.
            "CRI_STAFF_EMAILS": json.dumps(DEV_STAFF_EMAILS),
            **os.environ,
            "CRI_DATABASE_URL": self.database_url,
            "CRI_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
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
) -> dict[str, ServiceProcess]:
    """Start each service as its own process (with `env` added to its environment) and wait until all are ready."""
    log_dir = log_dir or infra.home / "logs"
    ports = {name: free_port() for name in names}
    # The other services' pages send people to intake to sign in, and ask it who a session is; intake's "my
    # requests" page reads an assessment's recommendations from engagements; engagements' dashboard links the
    # requests waiting for staff to routing's triage pages.
    urls = {
        f"CRI_{name.upper()}_URL": f"http://127.0.0.1:{ports[name]}"
        for name in ("intake", "routing", "engagements")
        if name in ports
    }
    services = {}
    for name, port in ports.items():
        service_env = {**infra.service_env(name, port), **urls, **(env or {})}
        services[name] = ServiceProcess(name, port, service_env, log_dir / f"{name}.log").start()
    for service in services.values():
        service.wait_ready()
    return services


def run_forever(home: Path) -> None:
    """`cri up`: start everything, print the URLs, stop everything cleanly on Ctrl-C."""
    started = time.monotonic()
    infra = Infrastructure(home).start()
    services: dict[str, ServiceProcess] = {}
    try:
        services = start_services(infra)
        # So that `cri topics`, `cri watch`, `cri submit` find this system without flags.
        (home / "stack.json").write_text(
            json.dumps(
                {
                    "bootstrap_servers": infra.bootstrap_servers,
                    "database_url": infra.database_url,
                    "maildir": str(infra.maildir),
                    "services": {name: service.url for name, service in services.items()},
                }
            )
        )
        print(f"CRI Exchange is up in {time.monotonic() - started:.1f}s")
        print(f"  broker      {infra.broker_kind.value} {infra.broker_version} at {infra.bootstrap_servers}")
        print(f"  database    {infra.database_url}")
        print(f"  smtp sink   127.0.0.1:{infra.smtp_port} (messages in {infra.maildir})")
        for service in services.values():
            print(f"  {service.name:<11} {service.url}  (docs {service.url}/docs, log {service.log_path})")
        if "intake" in services:
            print(f"Open {services['intake'].url}/ in a browser: the request form for agencies (sign in at /sign-in).")
        print("Press Ctrl-C to stop.")
        while all(s.process and s.process.poll() is None for s in services.values()):
            time.sleep(0.5)
        print("a service exited; stopping", file=sys.stderr)
    except KeyboardInterrupt:
        print("stopping...")
    finally:
        for service in services.values():
            service.stop()
        infra.stop()
