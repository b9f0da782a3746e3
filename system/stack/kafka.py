"""Run a real single-node Apache Kafka 4.x broker (KRaft, broker+controller) for tests.

The broker is assembled from the ``org.apache.kafka:kafka_2.13`` jars on Maven Central
(no tarball download, no Docker) and started as a plain ``java`` subprocess. Clients log in with
SASL/SCRAM-SHA-512 and Kafka's StandardAuthorizer enforces ACLs; a principal without an ACL may do nothing.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
import weakref
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka.conn import ScramAuthenticator

from system.stack.ports import free_port

log = logging.getLogger(__name__)

_MARKER = ".complete"
_PROBE_ID = b"stack-readiness-probe"
SASL_MECHANISM = "SCRAM-SHA-512"
# The broker's own principal: inter-broker and broker-to-controller connections, and the readiness probe.
BROKER_USER = "cri-broker"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.stack</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""

# Console appender: the subprocess' stdout/stderr are redirected to server.log, so
# JVM crashes and Kafka logs end up in one file. The config dumps (~2000 lines per
# start, ~90% of the log) are muted; server.properties sits next to the log anyway.
_LOG4J2_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = OUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""

# Small heap for a 2-core CI box. C1-only JIT cut broker start-up from ~2.4 s to
# ~1.8 s (measured); the GC choice made no measurable difference.
DEFAULT_JVM_OPTS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)


def _run_mvn(pom_dir: Path, *goal_args: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("mvn not found on PATH; needed to fetch Kafka jars")
    proc = subprocess.run([mvn, "-B", "-q", *goal_args], check=False, cwd=pom_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"mvn {' '.join(goal_args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )


def fetch_kafka_jars(version: str, cache_dir: Path) -> Path:
    """Return ``cache_dir/kafka-<version>/lib`` holding every runtime jar of the broker.

    A marker file makes repeat calls a pure filesystem check (no mvn/JVM start).
    The lib dir is built in a scratch dir and renamed into place, so concurrent
    callers (e.g. pytest-xdist workers) never see a half-filled cache.
    """
    home = cache_dir / f"kafka-{version}"
    lib = home / "lib"
    if (home / _MARKER).is_file():
        return lib
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".kafka-{version}-", dir=cache_dir) as tmp:
        work = Path(tmp)
        stage = work / "home"
        (work / "pom.xml").write_text(_POM.format(version=version))
        _run_mvn(
            work,
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={stage / 'lib'}",
        )
        # Kafka logs via slf4j 1.7 but its pom ships only log4j-core, so without this
        # binding the broker logs nothing. Match the log4j-core version Kafka pins.
        cores = sorted((stage / "lib").glob("log4j-core-*.jar"))
        if not cores:
            raise RuntimeError(f"kafka {version} resolved without log4j-core")
        log4j_version = cores[0].name.removeprefix("log4j-core-").removesuffix(".jar")
        _run_mvn(
            work,
            "dependency:copy",
            f"-Dartifact=org.apache.logging.log4j:log4j-slf4j-impl:{log4j_version}",
            f"-DoutputDirectory={stage / 'lib'}",
        )
        (stage / _MARKER).write_text(version + "\n")
        if home.exists() and not (home / _MARKER).is_file():
            shutil.rmtree(home)  # leftover from an interrupted pre-marker layout
        try:
            stage.rename(home)
        except OSError:
            if not (home / _MARKER).is_file():  # lost the race to a complete copy is fine
                raise
    return lib


def kafka_version(lib_dir: Path) -> str:
    """Version of the Kafka jars in ``lib_dir``, as baked into kafka-clients."""
    for jar in lib_dir.glob("kafka-clients-*.jar"):
        with zipfile.ZipFile(jar) as zf:
            for line in zf.read("kafka/kafka-version.properties").decode().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "version":
                    return value.strip()
    raise RuntimeError(f"no kafka-clients jar with version info in {lib_dir}")


def security_properties(broker_password: str, superusers: Sequence[str]) -> dict[str, str]:
    """Listeners that let nobody in without a login, and the authorizer that lets a principal do only what an
    ACL allows (docker-compose.yml sets the same; a test compares them). The listeners are named SASL and
    CONTROLLER; the broker's own principal and `superusers` bypass the ACLs."""
    login = f'username="{BROKER_USER}" password="{broker_password}"'
    return {
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "SASL",
        "listener.security.protocol.map": "SASL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        # Clients: SCRAM, whose credentials live in the metadata log. The controller listener cannot use
        # SCRAM (it serves before that log is read): PLAIN with the broker's own, static, credential.
        "sasl.enabled.mechanisms": SASL_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SASL_MECHANISM,
        "listener.name.sasl.scram-sha-512.sasl.jaas.config": (
            f"org.apache.kafka.common.security.scram.ScramLoginModule required {login};"
        ),
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'{login} user_{BROKER_USER}="{broker_password}";'
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": ";".join(f"User:{user}" for user in (BROKER_USER, *superusers)),
        "allow.everyone.if.no.acl.found": "false",
    }


def write_secret(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable even for a moment; a file
    there before, made by an older version with wider permissions, is replaced, not rewritten in place)."""
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(text)


def _new_cluster_id() -> str:
    # Same shape as Kafka's Uuid.randomUuid(): 22-char url-safe base64, never
    # starting with '-' (it would be parsed as a CLI flag by StorageTool).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already exited
        os.killpg(pid, sig)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = sock.recv(n, socket.MSG_WAITALL)
    if len(data) < n:
        raise ConnectionError("broker closed the connection")
    return data


def _kafka_request(sock: socket.socket, api_key: int, api_version: int, body: bytes) -> bytes:
    """One raw Kafka request (v1 header); the response after its correlation id."""
    request = struct.pack(">hhih", api_key, api_version, 1, len(_PROBE_ID)) + _PROBE_ID + body
    sock.sendall(struct.pack(">i", len(request)) + request)
    (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
    return _recv_exactly(sock, size)[4:]


def _sasl_login(sock: socket.socket, username: str, password: str) -> bool:
    """SCRAM-SHA-512 over SaslHandshake v1 + SaslAuthenticate v0 (aiokafka's SCRAM client computes the proofs)."""
    mechanism = SASL_MECHANISM.encode()
    if struct.unpack_from(">h", _kafka_request(sock, 17, 1, struct.pack(">h", len(mechanism)) + mechanism))[0]:
        return False
    scram = ScramAuthenticator(
        loop=None, sasl_plain_username=username, sasl_plain_password=password, sasl_mechanism=SASL_MECHANISM
    ).authenticator_scram()
    token, _ = next(scram)
    while True:
        answer = _kafka_request(sock, 36, 0, struct.pack(">i", len(token)) + token)
        error, message_size = struct.unpack_from(">hh", answer)
        if error:
            return False
        offset = 4 + max(message_size, 0)
        (size,) = struct.unpack_from(">i", answer, offset)
        try:
            token, _ = scram.send(answer[offset + 4 : offset + 4 + size])
        except StopIteration:
            return True


def _broker_ready(port: int, username: str, password: str) -> bool:
    """True once the broker authenticates us, is unfenced, and its group coordinator has loaded.

    SCRAM credentials live in the metadata log, so a login succeeds only once it is loaded. Metadata (v1, no
    topics) lists only unfenced brokers in KRaft. FindCoordinator also creates __consumer_offsets on a fresh
    cluster. OffsetFetch v2 answers COORDINATOR_LOAD_IN_PROGRESS until the offsets partition is loaded; aiokafka
    ignores that group-level error and reports committed offsets as None, so right after a restart tests would
    see their offsets "lost" without this wait.
    """
    group = struct.pack(">h", len(_PROBE_ID)) + _PROBE_ID
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            if not _sasl_login(sock, username, password):
                return False
            if struct.unpack_from(">i", _kafka_request(sock, 3, 1, struct.pack(">i", 0)))[0] < 1:
                return False
            if struct.unpack_from(">h", _kafka_request(sock, 10, 0, group))[0] != 0:
                return False
            return struct.unpack_from(">ih", _kafka_request(sock, 9, 2, group + struct.pack(">i", 0))) == (0, 0)
    except OSError:
        return False


class KafkaBroker:
    """Single-node KRaft Kafka (process.roles=broker,controller) as a subprocess.

    ``data_dir`` is durable across ``stop()``/``start()``: it holds Kafka's log dir
    (``kafka-logs/``, formatted once), ``server.properties`` and the append-only
    ``server.log`` (or ``log_path``). Ports are fixed at construction so restarts keep the same
    bootstrap address.

    ``users`` (name -> password) become SCRAM-SHA-512 credentials when the storage is
    formatted: KRaft needs them in its first metadata, before any client can log in.
    ``superusers`` bypass the ACLs (the broker's own principal always does). ``broker_password``
    is the broker's own SCRAM/PLAIN password when given (a cluster's nodes share one); else one is made
    with the storage and kept in ``data_dir/broker.secret``.
    """

    def __init__(
        self,
        lib_dir: Path,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        *,
        users: Mapping[str, str],
        superusers: Sequence[str] = (),
        broker_password: str | None = None,
        log_path: Path | None = None,
        java: str | None = None,
        jvm_opts: tuple[str, ...] = DEFAULT_JVM_OPTS,
        log_level: str = "INFO",
        overrides: Mapping[str, str] | None = None,
        class_data_sharing: bool = True,
        cluster_id: str | None = None,
    ) -> None:
        self.lib_dir = lib_dir
        self.data_dir = data_dir.resolve()
        self.log_dirs = self.data_dir / "kafka-logs"
        self.log_path = (log_path or self.data_dir / "server.log").resolve()
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.java = java or self._find_java()
        self.jvm_opts = jvm_opts
        self.log_level = log_level
        self.overrides = dict(overrides or {})
        self.users = dict(users)
        self.superusers = tuple(superusers)
        self._given_password = broker_password
        self._broker_password = broker_password or ""
        self.version = kafka_version(lib_dir)
        # Used when the log dir is formatted; the nodes of a cluster share one.
        self.cluster_id = cluster_id or _new_cluster_id()
        # AppCDS archive shared by every broker on these jars: the first graceful
        # stop dumps the loaded classes, later starts map them (~1.8 s -> ~1.0 s).
        self._cds_archive = lib_dir.parent / "kafka-broker.jsa" if class_data_sharing else None
        self._cds_pending: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0
        self._launched = 0.0
        self._finalizer: weakref.finalize[[int, signal.Signals], KafkaBroker] | None = None

    @staticmethod
    def _find_java() -> str:
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / "java").is_file():
            return str(Path(java_home) / "bin" / "java")
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java not found (set JAVA_HOME); Kafka 4.x needs Java 17+")
        return java

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _server_properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Static voter set: unlike --standalone (dynamic quorum) it does not bake
            # the controller endpoint into the metadata log at format time.
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"SASL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL://127.0.0.1:{self.port}",
            **security_properties(self._broker_password, self.superusers),
            "log.dirs": str(self.log_dirs),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            # Internal topics default to RF 3, impossible on one node.
            "offsets.topic.replication.factor": "1",
            # One offsets partition instead of 50: every group shares the coordinator
            # partition the readiness probe waits for, and there is less to load.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Tests want consumers to join immediately, not after 3 s.
            "group.initial.rebalance.delay.ms": "0",
            # After a SIGKILL the controller rejects the restarted broker's registration
            # (DUPLICATE_BROKER_REGISTRATION) until the old session expires: default 9 s.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
        }
        props.update(self.overrides)
        return props

    def _java_cmd(self, main: str, *args: str, cds: tuple[str, ...] = ()) -> list[str]:
        return [
            self.java,
            *self.jvm_opts,
            *cds,
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            str(self.lib_dir / "*"),
            main,
            *args,
        ]

    def _log_excerpt(self) -> str:
        """This start's ERROR lines (the cause is rarely in the tail) and its last lines."""
        with self.log_path.open("rb") as f:
            f.seek(self._log_start)
            lines = f.read().decode(errors="replace").splitlines()
        errors = [line for line in lines if " ERROR " in line or " FATAL " in line]
        return "\n".join([*errors[:10], "--- last lines ---", *lines[-30:]])

    def start(self, timeout_s: float = 60.0) -> Self:
        """Format storage on first use, launch the broker, block until it serves groups."""
        self.launch()
        return self.wait_ready(timeout_s)

    def launch(self) -> None:
        """Format storage on first use and launch the broker, without waiting (a cluster's nodes start together)."""
        if self.running:
            raise RuntimeError(f"broker already running (pid {self.pid})")
        self.log_dirs.mkdir(parents=True, exist_ok=True)
        # The broker's password, made once with the storage (its SCRAM credential is in the metadata log); a
        # cluster's nodes share one, given at construction.
        secret = self.data_dir / "broker.secret"
        if self._given_password is not None:
            if not secret.is_file() or secret.read_text() != self._given_password:
                write_secret(secret, self._given_password)
        elif not secret.is_file():
            write_secret(secret, secrets.token_urlsafe(24))
        self._broker_password = secret.read_text()
        config = self.data_dir / "server.properties"
        write_secret(config, "".join(f"{k}={v}\n" for k, v in self._server_properties().items()))
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES.format(level=self.log_level))
        with self.log_path.open("ab") as out:
            self._log_start = out.tell()
            # meta.properties means formatted: reformatting would wipe the cluster id
            # and make the existing data unreadable.
            if not (self.log_dirs / "meta.properties").is_file():
                fmt = subprocess.run(
                    self._java_cmd(
                        "kafka.tools.StorageTool",
                        "format",
                        "-t",
                        self.cluster_id,
                        "-c",
                        str(config),
                        *self._scram_credentials(),
                    ),
                    check=False,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                if fmt.returncode != 0:
                    raise RuntimeError(f"kafka storage format failed:\n{self._log_excerpt()}")
            # Own session/process group so kill/pause signals hit only the broker.
            self._proc = subprocess.Popen(
                self._java_cmd("kafka.Kafka", str(config), cds=self._cds_opts()),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # Never leak a broker JVM if the test process dies without stop().
        self._finalizer = weakref.finalize(self, _signal_group, self._proc.pid, signal.SIGKILL)
        self._launched = time.monotonic()

    def wait_ready(self, timeout_s: float = 60.0, ready: Callable[[], bool] | None = None) -> Self:
        """Block until the launched broker serves groups (or until `ready`, a cluster's check, says so)."""
        assert self._proc is not None, "launch() first"
        started = self._launched
        deadline = time.monotonic() + timeout_s
        while not (ready() if ready else _broker_ready(self.port, BROKER_USER, self._broker_password)):
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._forget()
                raise RuntimeError(f"kafka exited with {code} during start-up:\n{self._log_excerpt()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(
                    f"kafka not ready on {self.bootstrap} after {timeout_s:.0f}s:\n{self._log_excerpt()}"
                )
            time.sleep(0.2)
        log.info(
            "Apache Kafka %s (KRaft) ready on %s in %.1fs, data in %s",
            self.version,
            self.bootstrap,
            time.monotonic() - started,
            self.data_dir,
        )
        return self

    def _scram_credentials(self) -> list[str]:
        users = {**self.users, BROKER_USER: self._broker_password}
        return [
            arg
            for name, password in users.items()
            for arg in ("--add-scram", f"{SASL_MECHANISM}=[name={name},password={password}]")
        ]

    def _cds_opts(self) -> tuple[str, ...]:
        if self._cds_archive is None:
            return ()
        if self._cds_archive.is_file():
            return (f"-XX:SharedArchiveFile={self._cds_archive}",)
        # Dump to a private name, published only after a clean exit: concurrent
        # brokers must not race on, or map, a half-written archive.
        self._cds_pending = self._cds_archive.with_name(f".{uuid.uuid4().hex}.jsa")
        return (f"-XX:ArchiveClassesAtExit={self._cds_pending}",)

    def _forget(self, publish_cds: bool = False) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._cds_pending is not None:
            # Only a JVM that exited on its own has finished writing the archive.
            if publish_cds and self._cds_pending.is_file() and self._cds_archive is not None:
                self._cds_pending.replace(self._cds_archive)
            self._cds_pending.unlink(missing_ok=True)
            self._cds_pending = None
        self._proc = self._finalizer = None

    def stop(self, grace_s: float = 30.0) -> None:
        """Graceful shutdown (SIGTERM), escalating to SIGKILL after ``grace_s`` seconds."""
        if self._proc is None:
            return
        _signal_group(self._proc.pid, signal.SIGTERM)
        _signal_group(self._proc.pid, signal.SIGCONT)  # a paused JVM can't handle SIGTERM
        try:
            self._proc.wait(grace_s)
            graceful = True
        except subprocess.TimeoutExpired:
            _signal_group(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            graceful = False
        self._forget(publish_cds=graceful)

    def kill(self) -> None:
        """Crash the broker (SIGKILL), e.g. to test unclean recovery."""
        if self._proc is None:
            return
        _signal_group(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._forget()

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing is answered."""
        if self._proc is not None:
            _signal_group(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            _signal_group(self._proc.pid, signal.SIGCONT)

    def restart(self, *, hard: bool = False) -> Self:
        """Stop (or SIGKILL if ``hard``) and start again on the same data dir and ports."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
