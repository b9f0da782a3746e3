"""Helpers of the fault-injection suite: a mixed stream of requests submitted like real clients (retrying the
same body under the same idempotency key until it is accepted), faults at seeded-random moments, and readers
of what actually reached the topics and the mailbox."""

import asyncio
import json
import mailbox
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaProducer

from system.access import PUBLISHER
from system.ops import kafka_client
from tests.support import sample_request

if TYPE_CHECKING:
    from tests.conftest import PrivateSystem

AUTH = {"Authorization": "Bearer cri-service-dev-key"}
# A paused broker must outlast the consumers' session timeout (10 s) so that their group really expires.
PAUSE_S = 12.0


def critical_incident() -> dict[str, Any]:
    recent = (date.today() - timedelta(days=5)).isoformat()
    return {
        "summary": "Fatal use of force.",
        "occurred_on": recent,
        "high_profile": True,
        "assistance": ["after_action_review"],
    }


SYSTEMIC_CONCERNS = {
    "issues": ["community_trust"],
    "description": "Years of complaints about stops.",
    "long_term_assistance_wanted": True,
    "commitment_to_implement": True,
}


def mixed_request(rng: random.Random) -> dict[str, Any]:
    """Mostly CRI-TAC, some Critical Response, some Organizational Assessment, a few that need staff review."""
    roll = rng.random()
    if roll < 0.55:
        return sample_request()
    if roll < 0.75:
        return sample_request(incident=critical_incident())
    if roll < 0.92:
        return sample_request(systemic_concerns=SYSTEMIC_CONCERNS)
    # Both a Critical Response incident and assessment concerns: routing asks staff to decide.
    return sample_request(incident=critical_incident(), systemic_concerns=SYSTEMIC_CONCERNS)


@dataclass
class Accepted:
    """What the clients were told was accepted: request ids (HTTP 202) and idempotency keys (Kafka acks)."""

    http: list[str] = field(default_factory=list)
    kafka_keys: list[str] = field(default_factory=list)
    http_retries: int = 0
    kafka_retries: int = 0

    @property
    def total(self) -> int:
        return len(self.http) + len(self.kafka_keys)


async def submit_over_http(client: httpx.AsyncClient, body: dict[str, Any], key: str, accepted: Accepted) -> None:
    """POST until 202, always the same body and Idempotency-Key, as a real client does through an outage."""
    while True:
        try:
            response = await client.post("/v1/requests", json=body, headers={**AUTH, "Idempotency-Key": key})
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 202:
            accepted.http.append(response.json()["request_id"])
            return
        if response is not None and response.status_code < 500 and response.status_code != 429:
            raise AssertionError(f"intake refused a valid request: {response.status_code} {response.text}")
        accepted.http_retries += 1
        await asyncio.sleep(0.5)  # back off before retrying, as any client should


async def submit_over_kafka(producer: AIOKafkaProducer, body: dict[str, Any], key: str, accepted: Accepted) -> None:
    """Produce until the broker acknowledges (acks=all); a retry may duplicate the record, the key dedupes it."""
    value = json.dumps(body).encode()
    headers = [("idempotency-key", key.encode()), ("correlation-id", key.encode())]
    while True:
        try:
            await asyncio.wait_for(
                producer.send_and_wait("cri.intake.submissions", value, key=key.encode(), headers=headers), 15
            )
        except Exception:  # noqa: BLE001 - any produce failure during a fault: retry the same record
            accepted.kafka_retries += 1
            await asyncio.sleep(0.5)
            continue
        accepted.kafka_keys.append(key)
        return


@dataclass
class Stream:
    """`clients` HTTP clients and one Kafka publisher submitting at about `rate` requests per second in all,
    until `done()` says to stop and at least `minimum` requests were accepted."""

    system: "PrivateSystem"
    rng: random.Random
    minimum: int
    rate: float
    clients: int = 4
    kafka_share: float = 0.2
    accepted: Accepted = field(default_factory=Accepted)

    async def run(self, done: Callable[[], bool]) -> Accepted:
        def keep_going() -> bool:
            return not done() or self.accepted.total < self.minimum

        # As an outside system: the publisher principal may write the inbound topic and nothing else.
        producer = AIOKafkaProducer(
            **kafka_client(
                self.system.infra.kafka_settings(PUBLISHER),
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=10_000,
            )
        )
        await producer.start()
        try:
            async with httpx.AsyncClient(base_url=self.system.services["intake"].url, timeout=10) as client:
                http = [self._http_client(client, n, keep_going) for n in range(self.clients)]
                await asyncio.gather(*http, self._kafka_client(producer, keep_going))
        finally:
            await producer.stop()
        return self.accepted

    async def _http_client(self, client: httpx.AsyncClient, n: int, keep_going: Callable[[], bool]) -> None:
        share = (1 - self.kafka_share) * self.rate / self.clients
        i = 0
        while keep_going():
            i += 1
            await submit_over_http(client, mixed_request(self.rng), f"fault-http-{n}-{i}", self.accepted)
            await asyncio.sleep(1 / share)  # pacing: the stream must last as long as the faults

    async def _kafka_client(self, producer: AIOKafkaProducer, keep_going: Callable[[], bool]) -> None:
        i = 0
        while keep_going():
            i += 1
            await submit_over_kafka(producer, mixed_request(self.rng), f"fault-kafka-{i}", self.accepted)
            await asyncio.sleep(1 / (self.kafka_share * self.rate))


@dataclass
class Injected:
    name: str
    at_s: float
    took_s: float


def faults_of(system: "PrivateSystem", rng: random.Random) -> list[tuple[str, Callable[[], None]]]:
    """Every fault once, in a seeded-random order; each returns once the system part is back."""
    broker, postgres = system.infra.broker, system.infra.postgres

    def crash(name: str) -> Callable[[], None]:
        def run() -> None:
            system.services[name].kill()  # SIGKILL: no shutdown hook, no final commit
            system.services[name].start()
            system.services[name].wait_ready()

        return run

    def broker_pause() -> None:
        broker.pause()
        time.sleep(PAUSE_S)  # the fault itself: frozen longer than the session timeout
        broker.resume()

    def postgres_restart(kill: bool) -> Callable[[], None]:
        def run() -> None:
            postgres.kill() if kill else postgres.stop()
            postgres.start()

        return run

    faults = [
        *((f"SIGKILL {name}", crash(name)) for name in system.services),
        ("broker restart (graceful)", lambda: broker.restart(hard=False)),
        ("broker restart (SIGKILL)", lambda: broker.restart(hard=True)),
        (f"broker SIGSTOP {PAUSE_S:.0f}s, SIGCONT", broker_pause),
        ("postgres stop + start", postgres_restart(kill=False)),
        ("postgres SIGKILL + start", postgres_restart(kill=True)),
    ]
    rng.shuffle(faults)
    return faults


async def inject(
    faults: list[tuple[str, Callable[[], None]]], rng: random.Random, gap_s: tuple[float, float]
) -> list[Injected]:
    """Run the faults one after the other, a seeded-random gap of normal operation before each."""
    started = time.monotonic()
    injected = []
    for name, fault in faults:
        await asyncio.sleep(rng.uniform(*gap_s))  # the fault's random moment
        at = time.monotonic()
        await asyncio.to_thread(fault)
        injected.append(Injected(name, at - started, time.monotonic() - at))
    return injected


def delivered_ids(maildir: Path) -> list[str]:
    """The delivery id of every message the SMTP sink stored, by Message-ID (`<delivery_id@cri-exchange>`)."""
    box = mailbox.Maildir(maildir, create=False)
    return [message["Message-ID"].strip("<>").split("@")[0] for message in box]


def table(title: str, rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [title, line.format(*header), line.format(*("-" * w for w in widths))]
        + [line.format(*map(str, row)) for row in rows]
    )
