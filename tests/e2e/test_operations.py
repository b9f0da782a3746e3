"""What ops teams rely on: readiness, metrics, one trace id across the four services, graceful SIGTERM."""

import asyncio
import json
import signal
import uuid
from datetime import date

import asyncpg
import httpx
import pytest

from tests.support import SERVICE, eventually, sample_request

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def traced(private_system):
    """A system of its own that logs JSON at DEBUG, so every applied event leaves a line with its trace id."""
    return private_system(env={"CRI_LOG_FORMAT": "json", "CRI_LOG_LEVEL": "DEBUG"})


async def _ready(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"{url}/health/ready")


async def test_readiness_flips_while_postgresql_is_down_and_back(traced):
    intake = traced.services["intake"]
    assert (await _ready(intake.url)).status_code == 200
    traced.infra.postgres.stop()
    try:
        down = await eventually(
            lambda: _status_if(intake.url, 503), timeout_s=30, what="intake to report not ready without PostgreSQL"
        )
        assert down["checks"]["database"].startswith("unreachable")
    finally:
        await asyncio.to_thread(traced.infra.postgres.start)
    await eventually(lambda: _status_if(intake.url, 200), timeout_s=30, what="intake to be ready again")


async def _status_if(url: str, code: int) -> dict | None:
    response = await _ready(url)
    return response.json() if response.status_code == code else None


async def test_metrics_count_applied_events(system):
    async with httpx.AsyncClient() as client:
        accepted = await client.post(f"{system['intake'].url}/v1/requests", json=sample_request(), headers=SERVICE)
        assert accepted.status_code == 202, accepted.text

        async def counted():
            text = (await client.get(f"{system['routing'].url}/metrics")).text
            return [
                line
                for line in text.splitlines()
                if line.startswith('cri_events_applied_total{service="routing",type="RequestReceived"}')
                and float(line.split()[-1]) >= 1
            ]

        assert await eventually(counted, what="routing's applied-events counter")
        text = (await client.get(f"{system['routing'].url}/metrics")).text
    assert 'cri_outbox_backlog{service="routing"}' in text
    assert "cri_batch_seconds_bucket" in text


async def test_one_request_carries_one_trace_id_through_all_four_services(traced):
    async with httpx.AsyncClient(base_url=traced.services["intake"].url, headers=SERVICE) as client:
        request_id = (await client.post("/v1/requests", json=sample_request())).json()["request_id"]

    def trace_ids(service: str) -> set[str]:
        lines = traced.services[service].log_path.read_text(errors="replace").splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return {r["trace_id"] for r in records if r.get("correlation_id") == request_id and r.get("trace_id")}

    async def traced_everywhere():
        ids = {name: trace_ids(name) for name in ("intake", "routing", "engagements", "notify")}
        return ids if all(ids.values()) else None

    ids = await eventually(traced_everywhere, timeout_s=60, what="log lines of the request in all four services")
    assert len(set.union(*ids.values())) == 1, ids


async def test_contact_details_and_confidential_incident_text_stay_out_of_every_log(traced):
    secret = f"confidential-{uuid.uuid4().hex}"
    contact_email = f"{uuid.uuid4().hex[:12]}@agency.example.gov"
    body = sample_request(
        contact__email=contact_email,
        incident={
            "summary": f"An officer-involved shooting; {secret}",
            "occurred_on": date.today().isoformat(),
            "high_profile": True,
            "confidential": True,
            "assistance": ["after_action_review"],
        },
    )
    async with httpx.AsyncClient(base_url=traced.services["intake"].url, headers=SERVICE) as client:
        request_id = (await client.post("/v1/requests", json=body)).json()["request_id"]

    def logged_everywhere() -> bool:
        return all(request_id in s.log_path.read_text(errors="replace") for s in traced.services.values())

    await eventually(lambda: asyncio.to_thread(logged_everywhere), what="the request in all four logs (DEBUG)")
    for service in traced.services.values():
        log = service.log_path.read_text(errors="replace")
        assert contact_email not in log, service.name
        assert secret not in log, service.name


async def test_sigterm_during_a_stream_loses_nothing(traced):
    routing = traced.services["routing"]
    request_ids = []
    async with httpx.AsyncClient(base_url=traced.services["intake"].url, headers=SERVICE) as client:
        for i in range(60):
            if i == 20:
                routing.process.send_signal(signal.SIGTERM)
            request_ids.append((await client.post("/v1/requests", json=sample_request())).json()["request_id"])
    await asyncio.to_thread(routing.process.wait, 30)
    # uvicorn re-raises SIGTERM once its graceful shutdown is done; a kill would be -SIGKILL.
    assert routing.process.returncode == -signal.SIGTERM
    assert "routing stopped cleanly" in routing.log_path.read_text()
    routing.start()
    await asyncio.to_thread(routing.wait_ready)
    conn = await asyncpg.connect(traced.infra.database_url)
    try:

        async def all_decided():
            return await conn.fetchval(
                "SELECT count(*) FROM routing.decisions WHERE request_id = ANY($1::uuid[])", request_ids
            ) == len(request_ids)

        await eventually(all_decided, timeout_s=60, what="every request to be decided once")
        per_request = await conn.fetch(
            "SELECT count(*) AS n FROM routing.decisions WHERE request_id = ANY($1::uuid[]) GROUP BY request_id",
            request_ids,
        )
    finally:
        await conn.close()
    assert len(per_request) == len(request_ids) and {row["n"] for row in per_request} == {1}
