"""A service started before its broker says so clearly, keeps retrying, and becomes ready once it is up."""

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from system.access import SETUP
from system.ops import setup_kafka
from system.stack.kafka import KafkaBroker, fetch_kafka_jars
from system.stack.ports import free_port
from system.stack.runner import KAFKA_VERSION, ServiceProcess
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_a_service_waits_for_a_broker_that_is_down_at_start(private_system, tmp_path: Path):
    if os.environ.get("CRI_EMBEDDED_BROKER") == "tansu":
        pytest.skip("needs Apache Kafka on a chosen port")
    servers = await asyncio.to_thread(private_system, ())
    port = free_port()
    env = {**servers.infra.service_env("intake", free_port()), "CRI_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
    intake = ServiceProcess("intake", int(env["CRI_HTTP_PORT"]), env, tmp_path / "intake.log").start()
    try:

        async def complained():
            return "is unreachable" in intake.log_path.read_text() and intake.process.poll() is None

        await eventually(complained, what="intake to report the unreachable broker and keep running")
        async with httpx.AsyncClient(base_url=intake.url) as client:
            assert (await client.get("/health/live")).status_code == 200
            assert (await client.get("/health/ready")).status_code == 503
            starting = await client.get("/v1/requests/00000000-0000-0000-0000-000000000000")
        assert starting.status_code == 503 and "is starting" in starting.json()["detail"]
        lib_dir = fetch_kafka_jars(KAFKA_VERSION, Path(os.environ.get("CRI_CACHE_DIR", Path.home() / ".cache" / "cri")))
        users = servers.infra.kafka_users  # the logins intake was started with
        with KafkaBroker(lib_dir, tmp_path / "late-kafka", port=port, users=users, superusers=[SETUP]) as late:
            # What the setup job does (only it may create topics and ACLs); intake waits for its topics meanwhile.
            await setup_kafka(
                servers.infra.kafka_settings(SETUP).model_copy(update={"kafka_bootstrap_servers": late.bootstrap})
            )

            async def ready():
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{intake.url}/health/ready")).status_code == 200

            await eventually(ready, timeout_s=60, what="intake to become ready once the broker is up")
            await asyncio.to_thread(intake.stop)
    finally:
        intake.kill()
