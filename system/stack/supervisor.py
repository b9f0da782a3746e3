"""`cri up`: the whole system under one supervisor.

It starts the embedded servers and the four services (each child in a process group of its own, so a terminal's
Ctrl-C reaches only the supervisor), restarts a service that exits (with backoff), and on SIGINT, SIGTERM or
SIGHUP stops the services, then the mail sink, the broker and PostgreSQL, each stop bounded by a grace period
after which the process group is killed. Every process it starts is written down in `<home>/run/<name>.pid`, so
that a second `cri up` on the same folder refuses while this one runs, and after a supervisor that was killed
stops what it left before starting again.
"""

import itertools
import json
import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shared.runtime.auth import DEV_SERVICE_KEY, DEV_STAFF_KEY
from shared.runtime.backoff import Backoff
from shared.runtime.settings import BrokerKind
from system.stack.kafka import SASL_MECHANISM, write_secret
from system.stack.kafka_cluster import NODE_NAMES
from system.stack.ports import Ports, process_stat, stop_group, terminate
from system.stack.runner import SERVICES, Infrastructure, ServiceProcess, start_services

log = logging.getLogger(__name__)

SUPERVISOR = "cri-up"
# What an earlier run left is stopped in the order of a clean stop: services first, PostgreSQL last.
STOP_ORDER = (*SERVICES, "smtp-sink", *NODE_NAMES, "postgres")
SERVICE_GRACE_S = 15.0
# A restarted service that has run this long has recovered: its next exit is waited on from the first delay again.
RECOVERED_AFTER_S = 60.0


class AlreadyRunning(RuntimeError):
    pass


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal = signal.Signals(signum).name


class PidFiles:
    """`<folder>/<name>.pid` for each running process that `cri up` started, holding "pid start-time": the start
    time tells the process apart from a later one that was given the same pid."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def record(self, name: str, pid: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stat = process_stat(pid)
        written = self.folder / f".{name}.pid.new"  # renamed into place: a kill never leaves half a pid file
        written.write_text(f"{pid} {stat[19] if stat else ''}\n")
        written.replace(self.folder / f"{name}.pid")

    def forget(self, name: str) -> None:
        (self.folder / f"{name}.pid").unlink(missing_ok=True)

    def running(self) -> dict[str, int]:
        """The recorded processes that still run, by name."""
        found = {}
        for path in sorted(self.folder.glob("*.pid")):
            pid, _, started = path.read_text().strip().partition(" ")
            stat = process_stat(int(pid)) if pid.isdigit() else None
            if stat and stat[19] == started:
                found[path.stem] = int(pid)
        return found

    def clear(self) -> None:
        for path in self.folder.glob("*.pid"):
            path.unlink()


def take_over(home: Path, pid_files: PidFiles) -> None:
    """Refuse while another `cri up` runs on `home`; stop what a killed one left (found by its pid files)."""
    running = pid_files.running()
    if SUPERVISOR in running:
        raise AlreadyRunning(
            f"CRI Exchange is already running from {home} (cri up, pid {running[SUPERVISOR]}). Use that one, stop "
            f"it (Ctrl-C in its terminal, or kill {running[SUPERVISOR]}), or start another with --home."
        )
    left = {name: running[name] for name in STOP_ORDER if name in running}
    if left:
        log.warning(
            "an earlier cri up on %s did not stop cleanly; stopping what it left running: %s",
            home,
            ", ".join(f"{name} (pid {pid})" for name, pid in left.items()),
        )
        started = time.monotonic()
        # A cluster's nodes stop together: one after the other, the last would wait for a quorum that is gone.
        for _, stage in itertools.groupby(left.items(), lambda item: "broker" if item[0] in NODE_NAMES else item[0]):
            with ThreadPoolExecutor() as stopping:
                list(stopping.map(lambda item: stop_group(item[1], grace_s=SERVICE_GRACE_S), stage))
        log.warning("stopped the earlier run's processes in %.1fs", time.monotonic() - started)
    pid_files.clear()


def stop_on_signals() -> None:
    """The first SIGINT, SIGTERM or SIGHUP raises StopRequested wherever the supervisor is; later ones, which
    arrive while it stops, are only logged so the stop runs to its end."""
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            log.warning("%s received: already stopping", signal.Signals(signum).name)
            return
        stopping = True
        raise StopRequested(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)


def configure_logging(logs: Path) -> None:
    """One line per event on the terminal (the servers' own output is in their log files), and every line of
    the supervisor's in `logs/cri-up.log` too."""
    logs.mkdir(parents=True, exist_ok=True)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    to_file = logging.FileHandler(logs / "cri-up.log")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[console, to_file], force=True)
    logging.getLogger("system.stack").setLevel(logging.INFO)


def run(home: Path) -> int:
    """`cri up` until a stop signal; the exit code (1 when it could not start)."""
    started = time.monotonic()
    configure_logging(home / "logs")
    pid_files = PidFiles(home / "run")
    try:
        take_over(home, pid_files)
    except AlreadyRunning as refused:
        log.error("%s", refused)
        return 1
    pid_files.record(SUPERVISOR, os.getpid())
    stop_on_signals()
    infra = Infrastructure(home, Ports.fixed())
    services: dict[str, ServiceProcess] = {}
    code = 0
    try:
        infra.start()
        for name, pid in infra.pids().items():
            pid_files.record(name, pid)
        services = start_services(infra, started=lambda service: pid_files.record(service.name, service.process.pid))
        # So that `cri topics`, `cri watch`, `cri submit` find this system, and log in, without flags (removed at
        # the stop). Only its owner may read it: it holds every principal's Kafka password.
        write_secret(
            home / "stack.json",
            json.dumps(
                {
                    "bootstrap_servers": infra.bootstrap_servers,
                    "database_url": infra.database_url,
                    "kafka_users": infra.kafka_users,
                    "maildir": str(infra.maildir),
                    "services": {name: service.url for name, service in services.items()},
                }
            ),
        )
        print(welcome(infra, services, time.monotonic() - started), flush=True)
        supervise(services, pid_files)
    except StopRequested as stop:
        log.info("%s received: stopping", stop.signal)
    except (RuntimeError, TimeoutError) as failed:  # a port in use, a server or service that would not start
        log.error("CRI Exchange could not start: %s", failed)
        code = 1
    finally:
        stopping = time.monotonic()
        (home / "stack.json").unlink(missing_ok=True)
        terminate(*(s.process for s in services.values() if s.process), grace_s=SERVICE_GRACE_S)
        infra.stop()
        pid_files.clear()
        log.info("stopped in %.1fs", time.monotonic() - stopping)
    return code


def welcome(infra: Infrastructure, services: dict[str, ServiceProcess], took_s: float) -> str:
    engagements, intake = services["engagements"].url, services["intake"].url
    lines = [
        f"CRI Exchange is up in {took_s:.1f}s. Open first:",
        f"  {intake}/   the request form for agencies (people sign in at {intake}/sign-in)",
        f"  {engagements}/dashboard/sign-in?key={DEV_STAFF_KEY}   the live dashboard, as staff",
        f"  {intake}/docs   the intake API: submit a request as a service, with the key {DEV_SERVICE_KEY}",
        *(f"  {service.url}/docs   the {service.name} API" for service in services.values() if service.url != intake),
        f"Broker {infra.broker_kind.value} {infra.broker_version} at {infra.bootstrap_servers}; "
        + (
            f"Kafka login SASL/{SASL_MECHANISM}, ACLs enforced, a principal per service and client in {infra.home}."
            if infra.kafka_users
            else "no Kafka login: tansu has no authorizer, every client may read and write every topic."
            if infra.broker_kind is BrokerKind.TANSU
            else "Kafka login as the CRI_KAFKA_* variables say."
        ),
        f"Emails (sign-in links too) in {infra.maildir}: cri signin-link <address>.",
        f"Logs in {infra.logs}. Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def supervise(services: dict[str, ServiceProcess], pid_files: PidFiles) -> None:
    """Restart each service that exits, after its backoff; returns only through StopRequested."""
    backoffs = {name: Backoff(first_s=1.0, cap_s=30.0) for name in services}
    restart_at: dict[str, float] = {}
    running_since = dict.fromkeys(services, time.monotonic())
    while True:
        now = time.monotonic()
        for name, service in services.items():
            assert service.process is not None
            due = restart_at.get(name)
            if due is not None:
                if now < due:
                    continue
                del restart_at[name]
                service.start()
                pid_files.record(name, service.process.pid)
                running_since[name] = now
                log.warning("%s restarted (pid %d)", name, service.process.pid)
            elif service.process.poll() is not None:
                pid_files.forget(name)
                restart_at[name] = now + (delay := backoffs[name].failed())
                log.warning(
                    "%s exited (%s); restarting it in %.1fs (restart %d; log %s)",
                    name,
                    exit_reason(service.process.returncode),
                    delay,
                    backoffs[name].failures,
                    service.log_path,
                )
            elif backoffs[name].failures and now - running_since[name] > RECOVERED_AFTER_S:
                backoffs[name].succeeded()
        time.sleep(0.2)


def exit_reason(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
