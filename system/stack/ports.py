"""Small process helpers shared by the embedded servers, and the ports the stack listens on."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, fields
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on the port (a closed connection still waiting out TIME_WAIT does not count,
    just as it does not stop the servers, which all set SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def listener(port: int) -> int | None:
    """The process that listens on a local TCP port, when this process may see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                local, state, inode = (columns := row.split())[1], columns[3], columns[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{inode}]")
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                return int(fd_dir.parent.name)
    return None


class PortTaken(RuntimeError):
    pass


@dataclass(frozen=True)
class Ports:
    """Where the embedded servers and the services listen; 0 is a free port chosen at start (what the tests use,
    so that runs can share a machine). `cri up` uses `Ports.fixed()`: the same ports on every start."""

    postgres: int = 0
    kafka: int = 0
    kafka_controller: int = 0
    smtp_sink: int = 0
    intake: int = 0
    routing: int = 0
    engagements: int = 0
    notify: int = 0

    @staticmethod
    def variable(name: str) -> str:
        return f"CRI_{name.upper()}_PORT"

    @classmethod
    def fixed(cls, environ: Mapping[str, str] = os.environ) -> "Ports":
        """The defaults of README's "Ports", each overridden by its CRI_<NAME>_PORT variable."""
        defaults = {f.name: getattr(FIXED_PORTS, f.name) for f in fields(FIXED_PORTS)}
        return cls(**{name: int(environ.get(cls.variable(name), port)) for name, port in defaults.items()})

    def of(self, name: str) -> int:
        """The port of the server or service `name`: its fixed one, or a free one."""
        return getattr(self, name) or free_port()

    def series(self, name: str, count: int) -> list[int]:
        """`count` ports for the nodes of a cluster: from the fixed one of `name` by steps of 2 (a node's client
        and controller ports interleave), or free ones."""
        return [getattr(self, name) + 2 * n if getattr(self, name) else free_port() for n in range(count)]

    def check_free(self, names: Iterable[str]) -> None:
        """Refuse, naming the program that listens there and the variable to change, a fixed port in use."""
        for name in names:
            port = getattr(self, name)
            if port and not port_free(port):
                pid = listener(port)
                program = f"pid {pid}: {command_line(pid)[:160]}" if pid else "another program"
                raise PortTaken(
                    f"port {port} ({name.replace('_', ' ')}) is already in use ({program}); stop that program "
                    f"or choose another port: {self.variable(name)}=<port> cri up"
                )


FIXED_PORTS = Ports(
    postgres=5433,
    kafka=9192,
    kafka_controller=9193,
    smtp_sink=2525,
    intake=8001,
    routing=8002,
    engagements=8003,
    notify=8004,
)


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def terminate(*processes: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM each process's group at once, then SIGKILL the groups still there once the grace period is over."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def process_stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state, ppid, pgrp, ... starttime at 19), or None when the process
    is gone or a zombie (which nothing may reap here: it runs no more)."""
    try:
        # The command name may hold spaces and parentheses: split after the last ')'.
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if stat[0] == "Z" else stat


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if (stat := process_stat(pid)) and int(stat[2]) == pgid]


def command_line(pid: int) -> str:
    """The command a process runs, or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_group(pgid: int, *, sig: signal.Signals = signal.SIGTERM, grace_s: float = 10.0) -> None:
    """Stop a process group that this process did not start (one an earlier run left): `sig`, then SIGKILL
    when the group is still there after `grace_s`."""
    _signal_group(pgid, sig)
    deadline = time.monotonic() + grace_s
    while group_members(pgid):
        if time.monotonic() > deadline:
            _signal_group(pgid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.1)
