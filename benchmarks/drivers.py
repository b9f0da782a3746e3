"""Load generators: requests for assistance put on the inbound topic or posted to intake's HTTP API, either as
fast as possible or at a fixed rate. Each records when it sent every request (the trace's `sent`)."""

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiokafka import AIOKafkaProducer

from benchmarks.stats import Trace, latency
from shared.contract.requests import EXAMPLE_REQUEST
from shared.contract.topics import INBOUND_SUBMISSIONS
from shared.runtime.settings import BrokerKind, ServiceSettings
from system.ops import kafka_client

# The HTTP APIs take an API key; the embedded stack's development service key.
HTTP_HEADERS = {"Authorization": "Bearer cri-service-dev-key"}


def request_body(run_id: str, channel: str, i: int) -> dict:
    """A valid request; a unique client reference makes each one a new request (no dedupe)."""
    body = copy.deepcopy(EXAMPLE_REQUEST)
    body["client_reference"] = f"bench-{run_id}-{channel}{i}"
    return body


def producer(kafka: ServiceSettings, broker_kind: BrokerKind) -> AIOKafkaProducer:
    """A producer set like the services' (shared/runtime/broker.py make_broker), logged in as `kafka` says."""
    return AIOKafkaProducer(
        **kafka_client(
            kafka, acks="all", enable_idempotence=broker_kind is BrokerKind.KAFKA, linger_ms=2, client_id="cri-bench"
        )
    )


async def paced(count: int, rate: float | None, send: Callable[[int], Awaitable[None]]) -> None:
    """Call send(i) for each i, at `rate` per second on a fixed schedule (no drift), or back to back."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(count):
        if rate:
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await send(i)


async def drive_kafka(
    kafka: ServiceSettings,
    broker_kind: BrokerKind,
    traces: dict[str, Trace],
    run_id: str,
    count: int,
    rate: float | None,
) -> list[str]:
    """Put `count` requests on cri.intake.submissions (as the publisher principal); returns their correlation ids."""
    ids = [f"bench-{run_id}-k{i}" for i in range(count)]
    acks = []
    client = producer(kafka, broker_kind)
    await client.start()
    try:

        async def send(i: int) -> None:
            traces[ids[i]].sent = time.time()
            body = json.dumps(request_body(run_id, "k", i)).encode()
            headers = [("correlation-id", ids[i].encode())]
            acks.append(await client.send(INBOUND_SUBMISSIONS.name, body, key=ids[i].encode(), headers=headers))

        await paced(count, rate, send)
        await asyncio.gather(*acks)
    finally:
        await client.stop()
    return ids


@dataclass
class HttpResult:
    ids: list[str]
    accepted: int
    refused: int
    accepted_per_s: float
    response_ms: dict

    def summary(self, concurrency: int) -> dict:
        """The figures for the report: everything but the request ids."""
        return {k: v for k, v in self.__dict__.items() if k != "ids"} | {"concurrency": concurrency}


def post_bytes(host: str, run_id: str, i: int) -> bytes:
    """One POST /v1/requests, ready to write: its Idempotency-Key makes a resend after a dropped connection the
    same request, not a second one."""
    body = json.dumps(request_body(run_id, "h", i)).encode()
    head = (
        f"POST /v1/requests HTTP/1.1\r\nHost: {host}\r\nAuthorization: {HTTP_HEADERS['Authorization']}\r\n"
        f"Content-Type: application/json\r\nIdempotency-Key: bench-{run_id}-h{i}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class KeepAliveConnection:
    """A bare HTTP/1.1 keep-alive client connection. The benchmark shares the 2 cores with what it measures, and
    httpx spent more CPU per request than intake did; this costs a small fraction of that."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request, return (status, body); reconnects and resends once if the connection dropped."""
        for attempt in (1, 2):
            try:
                if self._streams is None:
                    self._streams = await asyncio.open_connection(*self._address)
                reader, writer = self._streams
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                length = next(
                    int(v) for k, _, v in (line.partition(b":") for line in lines) if k.lower() == b"content-length"
                )
                return int(lines[0].split()[1]), await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def drive_http(
    intake_urls: list[str],
    traces: dict[str, Trace],
    run_id: str,
    count: int,
    rate: float | None,
    concurrency: int,
) -> HttpResult:
    """POST `count` requests over `concurrency` keep-alive connections, spread over the intake processes like a
    load balancer would; returns the request ids intake accepted (its correlation id for an HTTP request)."""
    urls = [urlsplit(u) for u in intake_urls]
    bodies = [post_bytes(urls[0].netloc, run_id, i) for i in range(count)]  # built before the clock starts
    queue: asyncio.Queue[int] = asyncio.Queue()
    ids: list[str] = []
    durations: list[float] = []
    refused = 0
    first_sent, last_answer = [], []

    async def worker(n: int) -> None:
        nonlocal refused
        url = urls[n % len(urls)]
        connection = KeepAliveConnection(url.hostname or "127.0.0.1", url.port or 80)
        try:
            while (i := await queue.get()) >= 0:
                sent = time.time()
                first_sent.append(sent)
                try:
                    status, body = await connection.exchange(bodies[i])
                except (OSError, asyncio.IncompleteReadError):
                    status, body = 0, b""
                done = time.time()
                last_answer.append(done)
                if status in (200, 201, 202):
                    request_id = json.loads(body)["request_id"]
                    traces[request_id].sent = sent
                    ids.append(request_id)
                    durations.append(done - sent)
                else:
                    refused += 1
        finally:
            connection.close()

    workers = [asyncio.create_task(worker(n)) for n in range(concurrency)]

    async def enqueue(i: int) -> None:
        await queue.put(i)
        if not rate:
            await asyncio.sleep(0)  # let the workers start sending while the queue fills

    await paced(count, rate, enqueue)
    for _ in workers:
        await queue.put(-1)
    await asyncio.gather(*workers)
    elapsed = max(last_answer) - min(first_sent) if last_answer else 0
    return HttpResult(
        ids=ids,
        accepted=len(ids),
        refused=refused,
        accepted_per_s=len(ids) / elapsed if elapsed else 0.0,
        response_ms=latency(durations).__dict__,
    )
