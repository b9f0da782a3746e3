"""The whole system, as separate processes on real Apache Kafka and PostgreSQL, under a stream of requests while
faults strike at seeded-random moments (SIGKILL of each service, broker restarts graceful and hard, a broker
frozen past the session timeout, PostgreSQL stopped and killed): once it has drained, every accepted request
was applied exactly once everywhere and got exactly its notifications. Seed: CRI_FAULT_SEED (default 8)."""

import os
import random
from pathlib import Path

import pytest

from tests.faults import chaos

pytestmark = pytest.mark.faults

SEED = int(os.environ.get("CRI_FAULT_SEED", "8"))
REQUESTS = 2_000
RATE = 25.0  # requests per second offered, so that the stream outlasts the faults
GAP_S = (2.0, 6.0)  # normal operation before each fault


@pytest.fixture(scope="module")
def chaos_system(private_system, tmp_path_factory):
    return private_system(env=chaos.roomy_env(Path(tmp_path_factory.mktemp("faults"))))


@pytest.mark.timeout(600)
async def test_under_crashes_restarts_and_freezes_every_accepted_request_is_applied_once_and_notified_once(
    chaos_system, capsys
):
    rng = random.Random(SEED)
    await chaos.stream_under_faults(
        chaos_system,
        chaos.faults_of(chaos_system, rng),
        rng,
        stream_seed=SEED + 1,
        minimum=REQUESTS,
        rate=RATE,
        gap_s=GAP_S,
        title=f"fault injection (seed {SEED})",
        capsys=capsys,
    )
