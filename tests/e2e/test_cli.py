"""The `cri` command line: the run command brings the system up and down, and the ops commands work on it."""

import asyncio
import json
import mailbox
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from system.access import OPS, SETUP
from system.ops import kafka_client
from tests.support import SERVICE, eventually, sample_request

pytestmark = pytest.mark.e2e

CRI = [str(Path(sys.executable).parent / "cri")]  # the installed entry point


def cri(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CRI, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env={**os.environ, "COLUMNS": "200", **env}
    )


def test_doctor_finds_what_the_system_needs():
    result = cri("doctor")
    assert result.returncode == 0, result.stdout
    assert "embedded PostgreSQL" in result.stdout


async def test_topics_lists_the_catalog_and_the_services_lag(system, infra):
    httpx.post(f"{system['intake'].url}/v1/requests", json=sample_request(), headers=SERVICE).raise_for_status()

    async def listed():
        result = await asyncio.to_thread(cri, "topics", **infra.kafka_env(OPS))
        assert result.returncode == 0, result.stderr
        return result.stdout if "cri-routing" in result.stdout else None

    output = await eventually(listed, what="routing's committed offsets in `cri topics`")
    assert "cri.requests" in output
    assert "total lag:" in output


def test_submit_posts_sample_requests(system):
    result = cri("submit", "--count", "2", "--url", system["intake"].url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("202 ") == 2


async def test_replay_rewinds_a_services_group_to_a_time(system, infra):
    # A group no service runs in (the session's services are running); as `cri-replaytest` no principal is, so
    # as the setup principal. A service's own principal rewinding its group: tests/integration/test_kafka_acls.py.
    result = cri("replay", "cri.requests", "replaytest", "--offset", "0", **infra.kafka_env(SETUP))
    assert result.returncode == 0, result.stderr
    admin = AIOKafkaAdminClient(**kafka_client(infra.kafka_settings(SETUP)))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets("cri-replaytest")
    finally:
        await admin.close()
    assert {tp.topic for tp in offsets} == {"cri.requests"}
    assert {meta.offset for meta in offsets.values()} == {0}


def test_cri_up_runs_the_whole_system_until_ctrl_c(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRI_DATABASE_URL", "CRI_KAFKA_"))}
    home = tmp_path / ".cri"
    up = subprocess.Popen(
        [*CRI, "up", "--home", str(home)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        lines = []
        while not any("Press Ctrl-C" in line for line in lines) and time.monotonic() < deadline:
            lines.append(up.stdout.readline())
        assert any("CRI Exchange is up" in line for line in lines), "".join(lines)
        assert (home / "stack.json").stat().st_mode & 0o777 == 0o600  # it holds every principal's password
        stack = json.loads((home / "stack.json").read_text())
        body = sample_request()
        answer = httpx.post(f"{stack['services']['intake']}/v1/requests", json=body, headers=SERVICE)
        assert answer.status_code == 202

        async def mailed():
            return [m for m in mailbox.Maildir(home / "mail") if body["agency"]["name"] in str(m)]

        assert asyncio.run(eventually(mailed, what="the request's emails in the SMTP sink"))
        # From the folder `cri up` ran in, `cri topics` finds the broker and logs in as ops by itself.
        topics = cri("topics", cwd=tmp_path)
        assert topics.returncode == 0, topics.stderr
        assert "cri-notify" in topics.stdout
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(60)
    assert up.returncode == 0
    assert "stopping" in up.stdout.read()
