"""Scaling out under load: on the three-broker cluster, routing goes from one process to three in the middle of a
stream of requests; its consumer group rebalances (the three share cri.requests' twelve partitions) and, once the
system has drained, every accepted request was applied exactly once everywhere and got exactly its
notifications."""

import random

import pytest

from system.stack.ports import free_port
from system.stack.runner import ServiceProcess
from tests.faults import chaos
from tests.support import eventually, partitions_held

pytestmark = pytest.mark.faults

SEED = 23
REQUESTS = 200
RATE = 6.0
GAP_S = (4.0, 6.0)  # one process before the scale-out
REPLICAS = ("routing", "routing-2", "routing-3")


@pytest.mark.timeout(600)
async def test_routing_scaled_from_one_to_three_processes_mid_stream_rebalances_and_loses_nothing(
    cluster_system, capsys
):
    services = cluster_system.services
    first = services["routing"]

    def scale_out() -> None:
        """Two more routing processes, configured as the first (its own HTTP port each), ready."""
        for name in REPLICAS[1:]:
            port = free_port()
            services[name] = ServiceProcess(
                "routing", port, {**first.env, "CRI_HTTP_PORT": str(port)}, first.log_path.with_name(f"{name}.log")
            ).start()  # stopped with the private system
        for name in REPLICAS[1:]:
            services[name].wait_ready()

    await chaos.stream_under_faults(
        cluster_system,
        [("routing: 1 -> 3 processes", scale_out)],
        random.Random(SEED),
        stream_seed=SEED + 1,
        minimum=REQUESTS,
        rate=RATE,
        gap_s=GAP_S,
        title="routing scaled out mid-stream",
        capsys=capsys,
    )

    async def three_share_the_partitions() -> list[list[int]] | None:
        held = [partitions_held(services[name].log_path) for name in REPLICAS]
        return held if all(held) and sorted(sum(held, [])) == list(range(12)) else None

    held = await eventually(three_share_the_partitions, timeout_s=60, what="three routing processes to share the work")
    with capsys.disabled():
        print(", ".join(f"{name} holds cri.requests {held}" for name, held in zip(REPLICAS, held, strict=True)))
