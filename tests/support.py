"""Test helpers: unique sample requests, API keys, bounded waits (never bare sleeps), `cri up` as a person runs it."""

import asyncio
import copy
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from shared.contract.requests import EXAMPLE_REQUEST
from shared.runtime.settings import ServiceSettings
from system.ops import kafka_client, partitions_of
from system.stack.ports import Ports, free_port, group_members, process_stat

T = TypeVar("T")

# The default keys (shared/runtime/auth.py DEV_API_KEYS), which the session system and private systems accept.
STAFF_KEY = "cri-staff-dev-key"
SERVICE_KEY = "cri-service-dev-key"


def auth(key: str) -> dict[str, str]:
    """The headers that present `key`."""
    return {"Authorization": f"Bearer {key}"}


STAFF = auth(STAFF_KEY)
SERVICE = auth(SERVICE_KEY)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sample_request(**overrides: Any) -> dict[str, Any]:
    """A valid CRI-TAC request body with a unique agency, so tests never collide."""
    body = copy.deepcopy(EXAMPLE_REQUEST)
    body["agency"]["name"] = unique(body["agency"]["name"])
    for path, value in overrides.items():
        target = body
        *parents, leaf = path.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return body


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout_s: float = 30.0, what: str = "condition", interval_s: float = 0.2
) -> T:
    """Poll `probe` until it returns a truthy value; fail with `what` once the bound is reached."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last value: {last!r}")


async def watch_statements(pool) -> list[str]:
    """Every statement the pool's connections send from now on (BEGIN and COMMIT included; an executemany is one,
    its rows pipelined): the round trips of the code under test."""
    sent: list[str] = []
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    for conn in held:
        # asyncpg looks up the types of arrays a connection meets for the first time, once, with queries of its own.
        await conn.execute("SELECT $1::uuid[], $2::timestamptz[], $3::bytea[]", [], [], [])
        conn.add_query_logger(lambda logged: sent.append(logged.query))
        await pool.release(conn)
    return sent


async def topic_records(kafka: ServiceSettings, topic: str) -> list[ConsumerRecord]:
    """Every record of `topic`, from the beginning up to its end as of now, as an outside reader starting from
    nothing sees it (no consumer group, nothing committed), logged in as `kafka` says (the tests' omniscient
    reads: `infra.kafka_settings(SETUP)`)."""
    partitions = await partitions_of(kafka, [topic])
    consumer = AIOKafkaConsumer(**kafka_client(kafka, enable_auto_commit=False))
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


_ASSIGNED = re.compile(r"Setting newly assigned partitions (.*) for group cri-routing")


def partitions_held(log_path: Path) -> list[int]:
    """The cri.requests partitions a routing replica was given at its group's latest rebalance (from its log)."""
    assignments = _ASSIGNED.findall(log_path.read_text(errors="replace"))
    return (
        sorted(int(p) for p in re.findall(r"topic='cri.requests', partition=(\d+)", assignments[-1]))
        if assignments
        else []
    )


class CriUp:
    """`cri up --home HOME` run as a person runs it: in a session of its own (a terminal), its output read as it
    comes. Every server and service is on a free port, so runs can share a machine, except those named in
    `default_ports` (on README's defaults)."""

    def __init__(self, home: Path, default_ports: tuple[str, ...] = ()) -> None:
        self.home = home
        external = ("CRI_DATABASE_URL", "CRI_SMTP_PORT")
        # Nor an outside broker's address and login (CRI_KAFKA_*): cri up runs its own, with its own logins.
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in external and (not key.startswith("CRI_KAFKA_") or key == "CRI_KAFKA_BROKERS")
        }
        for port in fields(Ports):
            self.env.pop(Ports.variable(port.name), None)
            if port.name not in default_ports:
                self.env[Ports.variable(port.name)] = str(free_port())
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self) -> "CriUp":
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "cri"), "up", "--home", str(self.home)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()
        return self

    @property
    def output(self) -> str:
        """What `cri up` printed so far (all of it once it has exited)."""
        if self.process.poll() is not None:
            self._reader.join(10)
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float = 300.0) -> None:
        """Until `text` is in the output; fails, with the output, when `cri up` exits first or time runs out."""
        deadline = time.monotonic() + timeout_s
        while text not in self.output:
            assert self.process.poll() is None or text in self.output, f"cri up exited:\n{self.output}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout_s:.0f}s:\n{self.output}"
            time.sleep(0.1)

    def wait_up(self) -> float:
        """Until the system is up; how long the start took."""
        started = time.monotonic()
        self.wait_for("Press Ctrl-C")
        return time.monotonic() - started

    def groups(self) -> set[int]:
        """The process groups `cri up` recorded in its pid files: its own and each child's."""
        return {int(path.read_text().split()[0]) for path in (self.home / "run").glob("*.pid")}

    def pids(self) -> dict[int, str]:
        """`cri up`, every live process of each group it recorded, and their children (PostgreSQL's workers lead
        groups of their own): pid -> start time, which tells each from a later process given the same pid."""
        found = {self.process.pid, *(pid for group in self.groups() for pid in group_members(group))}
        every = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
        stats = {pid: stat for pid in every if (stat := process_stat(pid))}
        while children := {pid for pid, stat in stats.items() if int(stat[1]) in found} - found:
            found |= children
        return {pid: stats[pid][19] for pid in found if pid in stats}

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> float:
        """Send `sig` to `cri up` alone (as `kill` does) and wait for it to exit; how long that took."""
        started = time.monotonic()
        self.process.send_signal(sig)
        self.process.wait(120)
        return time.monotonic() - started

    def kill_everything(self) -> None:
        """SIGKILL `cri up` and every process group it recorded, as a crash of the whole machine would."""
        for group in self.groups() | {self.process.pid}:
            with suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.process.wait(30)

    def __enter__(self) -> "CriUp":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Whatever a test did, nothing of this run outlives it."""
        if self.pids():
            self.kill_everything()


def still_running(processes: dict[int, str]) -> set[int]:
    """Which of `processes` (pid -> start time, as `CriUp.pids()` gives) still run."""
    return {pid for pid, started in processes.items() if (stat := process_stat(pid)) and stat[19] == started}
