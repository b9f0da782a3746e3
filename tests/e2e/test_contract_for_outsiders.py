"""The contract as outsiders meet it: each service's AsyncAPI page and document over HTTP, and the example
consumer (docs/examples/portfolio.py), which knows only the published schemas, rebuilding the portfolio from
cri.engagements.state of a running system."""

import ast
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.contract import topics
from system.access import DASHBOARD, SETUP
from system.asyncapi import asyncapi_document
from system.ops import login_env
from system.stack.runner import SERVICES
from tests.support import SERVICE, STAFF, eventually, sample_request, topic_records

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "portfolio.py"


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_serves_its_asyncapi_page_and_document(system, infra, service):
    async with httpx.AsyncClient(base_url=system[service].url) as client:
        page = await client.get("/asyncapi")
        document = await client.get("/asyncapi.json")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"<h1>CRI Exchange {service}: the events it publishes and consumes</h1>" in page.text
    served, committed = document.json(), asyncapi_document(service)
    server = {**committed.pop("servers")["development"], "host": infra.bootstrap_servers}
    if infra.kafka_users:  # the service logs in: its document says how (SASL/SCRAM-SHA-512)
        server["security"] = [{"$ref": "#/components/securitySchemes/scram512"}]
        assert served["components"].pop("securitySchemes") == {"scram512": {"type": "scramSha512"}}
    assert served.pop("servers") == {"development": server}
    assert served == committed  # the same document, but for the broker the running service really uses


def test_the_example_consumer_imports_nothing_of_the_project():
    tree = ast.parse(EXAMPLE.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported - set(sys.stdlib_module_names) == {"aiokafka", "jsonschema"}


async def test_the_example_consumer_rebuilds_the_portfolio_from_the_state_topic(system, infra, tmp_path):
    async with httpx.AsyncClient(base_url=system["intake"].url, headers=SERVICE) as client:
        requests = [(await client.post("/v1/requests", json=sample_request())).json()["request_id"] for _ in range(3)]

    async def snapshots_of_ours() -> dict[str, dict] | None:
        latest = {}
        for record in await topic_records(infra.kafka_settings(SETUP), topics.ENGAGEMENT_STATE.name):
            data = json.loads(record.value)["data"]
            if data["request_id"] in requests:
                latest[data["engagement_id"]] = data
        return latest if len(latest) == len(requests) else None

    ours = await eventually(snapshots_of_ours, timeout_s=90, what="a snapshot of each new engagement")

    # Run from an empty folder with the published schemas copied there: all it gets is what outsiders get.
    schemas = Path(__file__).parents[2] / "shared" / "contract" / "schemas"
    # Logged in as a dashboard is (cri-dashboard: it may read cri.engagements.state and nothing else).
    env = {"PATH": os.environ["PATH"], **login_env(infra.kafka_settings(DASHBOARD))}
    ran = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-I", str(EXAMPLE), "--json", "--schemas", str(schemas)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    portfolio = json.loads(ran.stdout)
    assert portfolio["unread"] == []
    async with httpx.AsyncClient(base_url=system["engagements"].url, headers=STAFF) as client:
        for engagement_id in ours:
            served = (await client.get(f"/v1/engagements/{engagement_id}")).json()
            rebuilt = portfolio["by_engagement"][engagement_id]
            assert (rebuilt["tier"], rebuilt["status"], rebuilt["provider_id"], rebuilt["agency"]) == (
                served["tier"],
                served["status"],
                served["provider"]["provider_id"],
                served["agency"]["name"],
            )
            assert rebuilt["version"] == served["version"]
    assert portfolio["engagements"] == len(portfolio["by_engagement"]) >= len(ours)
    assert sum(sum(statuses.values()) for statuses in portfolio["by_tier"].values()) == portfolio["engagements"]


def test_the_asyncapi_page_reads_well_at_any_width(system, browser):
    browser.open(f"{system['engagements'].url}/asyncapi")
    assert "EngagementSnapshot" in browser.text()
    assert browser.audit("asyncapi-engagements") == []
