"""The `cri` command line: the run command brings the system up and down, and the ops commands work on it."""

import asyncio
import json
import mailbox
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from system.access import OPS, SETUP
from system.ops import kafka_client
from tests.support import SERVICE, CriUp, eventually, sample_request

pytestmark = pytest.mark.e2e

CRI = [str(Path(sys.executable).parent / "cri")]  # the installed entry point
README = Path(__file__).parents[2] / "README.md"


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


def readme_request_example() -> tuple[str, str]:
    """README's "Submitting a request" block, as two scripts: the submission, then the status query (which needs
    the request id the first one printed, in place of `<request_id>`)."""
    section = README.read_text().split("## Submitting a request", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    submit = block.split("\n# {", 1)[0]
    status = block.rstrip("\n").splitlines()[-1]
    return submit, f"{submit.splitlines()[0]}\n{status}"


def test_readmes_curl_example_works_as_written_against_cri_up_until_ctrl_c(tmp_path: Path):
    submit, status = readme_request_example()
    home = tmp_path / ".cri"  # where `cri up` keeps its state when run from tmp_path
    with CriUp(home, default_ports=("intake",)) as up:  # on README's intake port; the rest on free ones
        up.wait_up()
        assert "CRI Exchange is up" in up.output and "http://127.0.0.1:8001/docs" in up.output
        assert "http://127.0.0.1:8001/sign-in" in up.output
        assert (home / "stack.json").stat().st_mode & 0o777 == 0o600  # it holds every principal's password
        stack = json.loads((home / "stack.json").read_text())
        assert set(stack["kafka_users"]) >= {"cri-ops", "cri-intake"} and stack["maildir"] == str(home / "mail")
        answer = json.loads(subprocess.run(["bash", "-c", submit], capture_output=True, text=True, check=True).stdout)
        assert answer["replayed"] is False and answer["status_url"] == f"/v1/requests/{answer['request_id']}"

        async def routed():
            script = status.replace("<request_id>", answer["request_id"])
            shown = json.loads(subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout)
            return shown if "routed" in {entry["status"] for entry in shown["timeline"]} else None

        assert asyncio.run(eventually(routed, what="README's request to be routed"))

        async def mailed():
            return [m for m in mailbox.Maildir(home / "mail") if "Springfield Police Department" in str(m)]

        assert asyncio.run(eventually(mailed, what="the request's emails in the SMTP sink"))
        # From the folder `cri up` ran in, `cri topics` finds the broker and logs in as ops by itself.
        topics = cri("topics", cwd=tmp_path)
        assert topics.returncode == 0, topics.stderr
        assert "cri-notify" in topics.stdout
        os.killpg(up.process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        up.process.wait(120)
    assert up.process.returncode == 0
    assert "SIGINT received: stopping" in up.output
