"""Traces leave the processes: the four services export their spans over OTLP/HTTP (configured only by the standard
OTEL_* variables) to a REAL receiver started here, which decodes the protobuf the way a collector does. One request
is one trace, with spans from all four services in the order the request went through them."""

import gzip
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from shared.contract import topics
from system.stack.ports import free_port
from tests.support import SERVICE, eventually, sample_request

if TYPE_CHECKING:
    from tests.conftest import PrivateSystem

pytestmark = pytest.mark.e2e


class Span:
    def __init__(self, service: str, name: str, span_id: str, parent_id: str) -> None:
        self.service, self.name, self.span_id, self.parent_id = service, name, span_id, parent_id

    def __repr__(self) -> str:
        return f"{self.service}:{self.name}"


class OtlpReceiver(ThreadingHTTPServer):
    """An OTLP/HTTP traces endpoint (POST /v1/traces, protobuf, gzip or not) keeping every span by trace id."""

    def __init__(self) -> None:
        self.traces: dict[str, list[Span]] = {}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", free_port()), _OtlpHandler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def keep(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.traces.setdefault(span.trace_id.hex(), []).append(
                            Span(attributes["service.name"], span.name, span.span_id.hex(), span.parent_span_id.hex())
                        )

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return list(self.traces.get(trace_id, []))


class _OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
            self.send_error(404)
            return
        self.server.keep(ExportTraceServiceRequest.FromString(body))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def traced(receiver: OtlpReceiver, private_system: Callable[..., "PrivateSystem"]) -> "PrivateSystem":
    """The four services told only the standard variables: where the collector is, and to batch briefly."""
    return private_system(env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"})


# What one request goes through, as a chain of spans from the HTTP call to the provider being told.
CHAIN = [
    ("cri-intake", "POST /v1/requests"),
    ("cri-intake", "publish cri.requests"),
    ("cri-routing", "consume cri.requests"),
    ("cri-routing", "handle RequestReceived"),
    ("cri-routing", "publish cri.requests"),
    ("cri-engagements", "consume cri.requests"),
    ("cri-engagements", "handle RequestRouted"),
    ("cri-engagements", "publish cri.engagements"),
    ("cri-notify", "consume cri.engagements"),
    ("cri-notify", "handle EngagementOpened"),
    ("cri-notify", "send email"),
]


async def test_one_request_is_one_trace_across_the_four_services(
    traced: "PrivateSystem", receiver: OtlpReceiver
) -> None:
    # The caller's own trace: the request continues it, so every span of the request is found by this id.
    trace_id, caller_span = os.urandom(16).hex(), os.urandom(8).hex()
    async with httpx.AsyncClient(base_url=traced.services["intake"].url) as client:
        answer = await client.post(
            "/v1/requests",
            json=sample_request(),
            headers={**SERVICE, "traceparent": f"00-{trace_id}-{caller_span}-01"},
        )
    assert answer.status_code == 202, answer.text

    async def provider_told() -> list[Span]:
        spans = receiver.trace(trace_id)
        by_id = {s.span_id: s for s in spans}
        if not any(s.name == f"publish {topics.NOTIFICATIONS.name}" for s in spans):
            return []  # the outcome of a delivery (NotificationSent) is in the request's trace too
        for sent in (s for s in spans if s.name == "send email"):
            chain = [sent]
            while chain[-1].parent_id in by_id:
                chain.append(by_id[chain[-1].parent_id])
            if len(chain) == len(CHAIN):
                return chain[::-1]
        return []

    chain = await eventually(provider_told, timeout_s=60, what="the provider's email and its outcome, in one trace")
    assert [(s.service, s.name) for s in chain] == CHAIN
    assert chain[0].parent_id == caller_span
    spans = receiver.trace(trace_id)
    assert {s.service for s in spans} == {"cri-intake", "cri-routing", "cri-engagements", "cri-notify"}
    # Every span of the trace hangs from the caller's span through spans that were all exported.
    known = {s.span_id for s in spans} | {caller_span}
    assert [s for s in spans if s.parent_id not in known] == []
