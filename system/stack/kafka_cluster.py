"""A three-node Apache Kafka cluster (KRaft) from the same jars as the single broker: each node is a broker and a
controller, the three controllers a static quorum, so any one node can fail (or be SIGKILLed by a test) and the
cluster goes on: a quorum of two, topics replicated three times with min.insync.replicas=2."""

import concurrent.futures
import logging
import secrets
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from system.stack.kafka import BROKER_USER, KafkaBroker, _kafka_request, _new_cluster_id, _sasl_login, write_secret

log = logging.getLogger(__name__)

SIZE = 3
# Three JVMs share 2 cores with PostgreSQL and the services: a smaller heap each than the single broker's.
CLUSTER_JVM_OPTS: tuple[str, ...] = ("-Xms128m", "-Xmx384m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")
_PROBE_GROUP = b"stack-readiness-probe"


def node_name(node_id: int) -> str:
    """How `cri up` names a node's process (its pid file): the first is "broker", as a single broker is."""
    return "broker" if node_id == 1 else f"broker-{node_id}"


NODE_NAMES = tuple(node_name(n) for n in range(1, SIZE + 1))


def _string(data: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack_from(">h", data, at)
    at += 2
    return ("", at) if size < 0 else (data[at : at + size].decode(), at + size)


def _request(port: int, password: str, api_key: int, api_version: int, body: bytes) -> bytes | None:
    """One raw Kafka request to the node on `port`, logged in as the broker's own principal (every listener asks
    for SASL); None when the node does not answer or lets us in."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            if not _sasl_login(sock, BROKER_USER, password):
                return None
            return _kafka_request(sock, api_key, api_version, body)
    except (OSError, struct.error):
        return None


def unfenced_brokers(port: int, password: str) -> set[int]:
    """The node ids of the brokers the node on `port` knows to be unfenced (Metadata v1 lists only those)."""
    metadata = _request(port, password, 3, 1, struct.pack(">i", 0))
    if metadata is None:
        return set()
    (count,) = struct.unpack_from(">i", metadata)
    at, brokers = 4, set()
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", metadata, at)
        _host, at = _string(metadata, at + 4)
        _rack, at = _string(metadata, at + 4)
        brokers.add(node_id)
    return brokers


def coordinator_loaded(port: int, password: str) -> bool:
    """True once the group coordinator (on whichever node leads the offsets partition) answers OffsetFetch."""
    group = struct.pack(">h", len(_PROBE_GROUP)) + _PROBE_GROUP
    found = _request(port, password, 10, 0, group)
    if found is None or struct.unpack_from(">h", found)[0] != 0:
        return False
    _host, at = _string(found, 6)
    (coordinator_port,) = struct.unpack_from(">i", found, at)
    offsets = _request(coordinator_port, password, 9, 2, group + struct.pack(">i", 0))
    return offsets is not None and struct.unpack_from(">ih", offsets) == (0, 0)


class KafkaCluster:
    """Three KRaft nodes (broker and controller each) on `ports` [(client, controller), ...], data in
    `data_dir/node-N`, logs in `log_dir/kafka-N.log`. Durable across stop()/start(), like the single broker.

    Secured like the single broker: SASL/SCRAM on every listener, ACLs enforced. Each node formats its storage
    with the same SCRAM credentials (`users`, and the broker's own), brokers talk to each other and to the
    controllers as the broker's principal (one password for the three, kept in `data_dir/broker.secret`), and
    the same `superusers` bypass the ACLs on every node."""

    def __init__(
        self,
        lib_dir: Path,
        data_dir: Path,
        ports: list[tuple[int, int]],
        *,
        log_dir: Path,
        users: Mapping[str, str],
        superusers: Sequence[str] = (),
    ) -> None:
        if len(ports) != SIZE:
            raise ValueError(f"a cluster has {SIZE} nodes, not {len(ports)}")
        data_dir.mkdir(parents=True, exist_ok=True)
        # One cluster id for every node, kept with the data: a node formatted later joins the same cluster.
        id_file = data_dir / "cluster.id"
        if not id_file.is_file():
            id_file.write_text(_new_cluster_id() + "\n")
        cluster_id = id_file.read_text().strip()
        secret = data_dir / "broker.secret"
        if not secret.is_file():
            write_secret(secret, secrets.token_urlsafe(24))
        self._broker_password = secret.read_text()
        voters = ",".join(f"{n}@127.0.0.1:{controller}" for n, (_, controller) in enumerate(ports, 1))
        self.nodes = [
            KafkaBroker(
                lib_dir,
                data_dir / f"node-{n}",
                port,
                controller,
                users=users,
                superusers=superusers,
                broker_password=self._broker_password,
                log_path=log_dir / f"kafka-{n}.log",
                jvm_opts=CLUSTER_JVM_OPTS,
                cluster_id=cluster_id,
                overrides={
                    "node.id": str(n),
                    "controller.quorum.voters": voters,
                    # Internal topics as replicated as the catalog's: offsets survive a broker.
                    "offsets.topic.replication.factor": str(SIZE),
                    "transaction.state.log.replication.factor": str(SIZE),
                    "transaction.state.log.min.isr": "2",
                    "share.coordinator.state.topic.replication.factor": str(SIZE),
                    "share.coordinator.state.topic.min.isr": "2",
                    "min.insync.replicas": "2",
                    # A node starved of CPU for a few seconds (2 cores, three JVMs and the system) must not be
                    # fenced, nor the quorum hold an election: the single broker's 3 s session is too short here.
                    "broker.heartbeat.interval.ms": "1000",
                    "broker.session.timeout.ms": "9000",
                    "controller.quorum.fetch.timeout.ms": "4000",
                    "controller.quorum.election.timeout.ms": "2000",
                },
            )
            for n, (port, controller) in enumerate(ports, 1)
        ]

    @property
    def version(self) -> str:
        return self.nodes[0].version

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def pids(self) -> dict[str, int]:
        return {node_name(n): node.pid for n, node in enumerate(self.nodes, 1) if node.pid}

    def node(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def ready(self) -> bool:
        """Every node sees all three unfenced, and groups can be served."""
        everyone = set(range(1, SIZE + 1))
        password = self._broker_password
        return all(unfenced_brokers(node.port, password) == everyone for node in self.nodes) and coordinator_loaded(
            self.nodes[0].port, password
        )

    def start(self, timeout_s: float = 120.0) -> Self:
        """Launch the three nodes together (one alone has no quorum) and wait until the cluster serves."""
        started = time.monotonic()
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_ready(timeout_s, ready=self.ready)
        log.info(
            "Apache Kafka %s cluster of %d ready on %s in %.1fs",
            self.version,
            SIZE,
            self.bootstrap,
            time.monotonic() - started,
        )
        return self

    def restart_node(self, node_id: int, timeout_s: float = 120.0) -> None:
        """Start a stopped or killed node again and wait until the cluster has it back."""
        node = self.node(node_id)
        node.launch()
        node.wait_ready(timeout_s, ready=self.ready)

    def stop(self) -> None:
        """Stop the nodes together: one after the other, the last would wait for a quorum that is gone."""
        with concurrent.futures.ThreadPoolExecutor(SIZE) as stopping:
            list(stopping.map(KafkaBroker.stop, self.nodes))
