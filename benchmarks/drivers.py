"""Load generators: requests for assistance put on the inbound topic or posted to intake's HTTP API, either as
fast as possible or at a fixed rate. Each records when it sent every request (the trace's `sent`)."""

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaProducer

from benchmarks.stats import Trace, latency
from shared.contract.requests import EXAMPLE_REQUEST
from shared.contract.topics import INBOUND_SUBMISSIONS
from shared.settings import BrokerKind

# The HTTP APIs take a service key (issue: API-key auth); intake ignores it until it checks it.
HTTP_HEADERS = {"Authorization": "Bearer cri-service-dev-key"}


def request_body(run_id: str, channel: str, i: int) -> dict:
    """A valid request; a unique client reference makes each one a new request (no dedupe)."""
    body = copy.deepcopy(EXAMPLE_REQUEST)
    body["client_reference"] = f"bench-{run_id}-{channel}{i}"
    return body


def producer(bootstrap: str, broker_kind: BrokerKind) -> AIOKafkaProducer:
    """A producer set like the services' (shared/broker.py make_broker)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=broker_kind is BrokerKind.KAFKA,
        linger_ms=2,
        client_id="cri-bench",
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
    bootstrap: str, broker_kind: BrokerKind, traces: dict[str, Trace], run_id: str, count: int, rate: float | None
) -> list[str]:
    """Put `count` requests on cri.intake.submissions; returns their correlation ids."""
    ids = [f"bench-{run_id}-k{i}" for i in range(count)]
    acks = []
    client = producer(bootstrap, broker_kind)
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


async def drive_http(
    intake_url: str,
    traces: dict[str, Trace],
    run_id: str,
    count: int,
    rate: float | None,
    concurrency: int,
) -> HttpResult:
    """POST `count` requests with `concurrency` clients at once; returns the request ids intake accepted
    (intake's correlation id for an HTTP request is its request id)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    ids: list[str] = []
    durations: list[float] = []
    refused = 0
    first_sent, last_answer = [], []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=intake_url, headers=HTTP_HEADERS, limits=limits, timeout=30) as client:

        async def post(i: int) -> httpx.Response | None:
            """One request; a dropped connection is retried once under the same Idempotency-Key (no double)."""
            key = {"Idempotency-Key": f"bench-{run_id}-h{i}"}
            for attempt in (1, 2):
                try:
                    return await client.post("/v1/requests", json=request_body(run_id, "h", i), headers=key)
                except httpx.TransportError:
                    if attempt == 2:
                        return None
            return None

        async def worker() -> None:
            nonlocal refused
            while True:
                i = await queue.get()
                if i < 0:
                    return
                sent = time.time()
                first_sent.append(sent)
                answer = await post(i)
                done = time.time()
                last_answer.append(done)
                if answer is not None and answer.status_code in (200, 201, 202):
                    request_id = answer.json()["request_id"]
                    traces[request_id].sent = sent
                    ids.append(request_id)
                    durations.append(done - sent)
                else:
                    refused += 1

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]

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
