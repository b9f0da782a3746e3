"""Helpers of the fault-injection suite: a mixed stream of requests submitted like real clients (retrying the
same body under the same idempotency key until it is accepted), faults at seeded-random moments, and readers
of what actually reached the topics and the mailbox."""

import asyncio
import json
import mailbox
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import yaml
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.routing.settings import RoutingSettings
from shared.contract import topics
from system.access import PUBLISHER, SETUP
from system.ops import end_offsets, kafka_client
from system.stack.kafka_cluster import KafkaCluster
from system.stack.ports import wait_until
from tests.support import eventually, sample_request, topic_records

if TYPE_CHECKING:
    from shared.runtime.settings import ServiceSettings
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


# Intended notifications by routing outcome (default preferences: email only, no webhooks): the agency hears of
# its request, its routing and its engagement, the provider of its assignment; a review goes to staff instead.
NOTIFICATIONS = {"routed": 4, "needs_review": 2}
SCHEMAS = ("intake", "routing", "engagements", "notify")


def roomy_env(folder: Path) -> dict[str, str]:
    """Services' environment under faults: every provider with room for everything, so nothing waits in a queue
    for capacity that never frees; notify retrying fast and taking back a killed dispatcher's claims soon."""
    registry = yaml.safe_load(RoutingSettings().providers_file.read_text())
    for provider in registry["providers"]:
        provider["capacity"] = 100_000
    providers = folder / "providers.yaml"
    providers.write_text(yaml.safe_dump(registry))
    return {
        "CRI_PROVIDERS_FILE": str(providers),
        "CRI_RETRY_BASE_S": "0.2",
        "CRI_RETRY_CAP_S": "2",
        "CRI_MAX_ATTEMPTS": "200",
        "CRI_DISPATCH_LEASE_S": "5",
    }


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


# The topics every request goes through, many records each: whoever leads most of theirs is the busiest broker.
BUSY_TOPICS = (topics.REQUESTS.name, topics.ENGAGEMENTS.name)


async def leaders(
    kafka: "ServiceSettings", names: tuple[str, ...] = BUSY_TOPICS
) -> dict[TopicPartition, tuple[int, int]]:
    """Each partition of `names`: its leader's node id and how many in-sync replicas it has (read logged in as
    `kafka` says: `infra.kafka_settings(SETUP)`)."""
    admin = AIOKafkaAdminClient(**kafka_client(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    return {
        TopicPartition(topic["topic"], p["partition"]): (p["leader"], len(p["isr"]))
        for topic in described
        for p in topic["partitions"]
    }


async def busiest_broker(kafka: "ServiceSettings") -> tuple[int, int, int]:
    """The broker leading the partitions of the busy topics that hold the most records: (node id, partitions it
    leads, records they hold)."""
    led, ends = await leaders(kafka), await end_offsets(kafka, BUSY_TOPICS)
    records: Counter[int] = Counter()
    for partition, (leader, _) in led.items():
        records[leader] += ends[partition]
    node, held = records.most_common(1)[0]
    return node, sum(leader == node for leader, _ in led.values()), held


def broker_kills(
    system: "PrivateSystem", kills: int = 2
) -> tuple[list[tuple[str, Callable[[], None]]], list[tuple[int, int, int]]]:
    """SIGKILL the broker leading the busiest partitions, bring it back (until every partition of the catalog is
    in sync on three brokers again), then the same to whichever broker is the busiest then, `kills` times. Also
    returns the list where each kill is noted as `busiest_broker` found it."""
    cluster = system.infra.broker
    kafka = system.infra.kafka_settings(SETUP)
    assert isinstance(cluster, KafkaCluster), "CRI_KAFKA_BROKERS=3"
    killed: list[tuple[int, int, int]] = []

    def kill_busiest() -> None:
        busiest = asyncio.run(busiest_broker(kafka))
        cluster.node(busiest[0]).kill()
        killed.append(busiest)

    def bring_back() -> None:
        cluster.restart_node(killed[-1][0])
        catalog = tuple(spec.name for spec in topics.CATALOG)

        def in_sync() -> bool:
            return all(isr == len(cluster.nodes) for _, isr in asyncio.run(leaders(kafka, catalog)).values())

        wait_until(in_sync, timeout_s=120, what="every partition in sync on every broker", interval_s=0.5)

    faults = [("SIGKILL the busiest broker", kill_busiest), ("start it again, wait for full ISR", bring_back)]
    return faults * kills, killed


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


async def drained(pool: asyncpg.Pool, request_ids: list[str]) -> bool:
    """No outbox row waits anywhere and every request has its decision, engagement and settled notifications."""
    for schema in SCHEMAS:
        if await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"):  # noqa: S608
            return False
    unsettled = await pool.fetchval(
        """
        SELECT count(*) FROM unnest($1::uuid[]) AS r(request_id)
        LEFT JOIN routing.requests rr USING (request_id)
        WHERE rr.outcome IS NULL
           OR (rr.outcome = 'routed' AND NOT EXISTS (
                SELECT 1 FROM engagements.engagements e WHERE e.request_id = r.request_id))
           OR (SELECT count(*) FILTER (WHERE status <> 'pending') FROM notify.deliveries d
               WHERE d.request_id = r.request_id) < CASE rr.outcome WHEN 'routed' THEN $2::int ELSE $3::int END
        """,
        request_ids,
        NOTIFICATIONS["routed"],
        NOTIFICATIONS["needs_review"],
    )
    return unsettled == 0


async def per_request(pool: asyncpg.Pool, sql: str, request_ids: list[str]) -> Counter:
    rows = await pool.fetch(sql, request_ids)
    return Counter({str(row["request_id"]): row["n"] for row in rows})


async def check_exactly_once(
    system: "PrivateSystem",
    accepted: Accepted,
    injected: list[Injected],
    *,
    title: str,
    started: float,
    streamed_s: float,
    show: Callable[[str], None],
) -> None:
    """Once the system has drained: every accepted request was applied exactly once everywhere (one
    RequestReceived on the topic, one policy decision, one engagement when routed, one place booked) and got
    exactly its notifications, each delivered; `show` is given the faults' and the invariants' tables."""
    pool = await asyncpg.create_pool(system.infra.database_url, min_size=1, max_size=4)
    try:
        by_key = dict(
            await pool.fetch(
                "SELECT key, request_id::text FROM intake.idempotency_keys WHERE key = ANY($1)", accepted.kafka_keys
            )
        )
        assert sorted(set(accepted.kafka_keys) - set(by_key)) == []  # every acknowledged record became a request
        request_ids = accepted.http + [by_key[key] for key in accepted.kafka_keys]
        assert len(set(request_ids)) == len(request_ids) == accepted.total  # no two clients got the same request

        await eventually(lambda: drained(pool, request_ids), timeout_s=240, interval_s=2, what="the system to drain")
        drained_s = time.monotonic() - started

        requests = await pool.fetchval("SELECT count(*) FROM intake.requests")
        routing = await pool.fetch(
            "SELECT request_id::text, outcome, tier FROM routing.requests WHERE request_id = ANY($1::uuid[])",
            request_ids,
        )
        decisions = await per_request(
            pool,
            "SELECT request_id, count(*) AS n FROM routing.decisions"
            " WHERE request_id = ANY($1::uuid[]) AND decided_by = 'policy' GROUP BY 1",
            request_ids,
        )
        engagements = await per_request(
            pool,
            "SELECT request_id, count(*) AS n FROM engagements.engagements"
            " WHERE request_id = ANY($1::uuid[]) GROUP BY 1",
            request_ids,
        )
        deliveries = await pool.fetch(
            "SELECT delivery_id::text, request_id::text, cause_event_id, role, channel, address, status, attempts"
            " FROM notify.deliveries WHERE request_id = ANY($1::uuid[])",
            request_ids,
        )
        booked = await pool.fetchval("SELECT sum(active) FROM routing.providers")
        submitted = [
            json.loads(record.value)
            for record in await topic_records(system.infra.kafka_settings(SETUP), topics.REQUESTS.name)
        ]
        emails = delivered_ids(system.infra.maildir)
    finally:
        await pool.close()

    outcomes = {row["request_id"]: row["outcome"] for row in routing}
    tiers = Counter(row["tier"] for row in routing if row["outcome"] == "routed")
    submitted = [event for event in submitted if event["type"] == "RequestReceived"]
    submitted_events = Counter(event["data"]["request_id"] for event in {e["event_id"]: e for e in submitted}.values())
    routed = [request for request in request_ids if outcomes.get(request) == "routed"]
    review = [request for request in request_ids if outcomes.get(request) == "needs_review"]
    per_delivery_request = Counter(d["request_id"] for d in deliveries)
    one_per_cause = Counter((d["cause_event_id"], d["role"], d["channel"], d["address"]) for d in deliveries)
    email_ids = {d["delivery_id"] for d in deliveries if d["channel"] == "email"}
    retried = {d["delivery_id"] for d in deliveries if d["attempts"] > 1}
    received = Counter(emails)
    repeated = {delivery for delivery, n in received.items() if n > 1}

    summary = table(
        f"{title}: streamed {streamed_s:.0f}s, drained at {drained_s:.0f}s",
        [(f"{f.at_s:6.1f}s", f"{f.took_s:5.1f}s", f.name) for f in injected],
        ("at", "took", "fault"),
    )
    checks = [
        ("accepted (HTTP 202 / Kafka ack)", f"{len(accepted.http)} + {len(accepted.kafka_keys)}", accepted.total),
        ("client retries (HTTP / Kafka)", f"{accepted.http_retries} / {accepted.kafka_retries}", "-"),
        ("requests in intake", requests, accepted.total),
        ("RequestReceived (distinct ids / copies)", f"{sum(submitted_events.values())} / {len(submitted)}", "1 each"),
        ("policy decisions", sum(decisions.values()), "1 each"),
        ("routed / needs_review", f"{len(routed)} / {len(review)}", accepted.total),
        ("routed by tier", ", ".join(f"{tier} {n}" for tier, n in sorted(tiers.items())), "3 tiers"),
        ("engagements", sum(engagements.values()), f"{len(routed)} (routed)"),
        ("provider places booked", booked, len(routed)),
        ("deliveries (all sent)", len(deliveries), len(routed) * 4 + len(review) * 2),
        ("emails received / repeats", f"{sum(received.values())} / {len(repeated)}", f"{len(email_ids)} / retried"),
        (
            "duplicates (submitted, decisions, engagements, deliveries)",
            sum(n > 1 for c in (submitted_events, decisions, engagements, one_per_cause) for n in c.values()),
            0,
        ),
    ]
    show("\n" + summary + "\n\n" + table("invariants", checks, ("check", "measured", "expected")) + "\n")

    assert requests == accepted.total  # no request lost, none created twice by a retry
    assert {r: submitted_events[r] for r in request_ids if submitted_events[r] != 1} == {}
    assert {r: decisions[r] for r in request_ids if decisions[r] != 1} == {}
    assert len(routed) + len(review) == accepted.total and review
    assert len(tiers) == 3
    assert {r: engagements[r] for r in routed if engagements[r] != 1} == {}
    assert [r for r in review if engagements[r]] == []
    assert booked == len(routed)
    expected = {r: NOTIFICATIONS[outcomes[r]] for r in request_ids}
    assert {r: (per_delivery_request[r], n) for r, n in expected.items() if per_delivery_request[r] != n} == {}
    assert max(one_per_cause.values()) == 1
    assert [d["delivery_id"] for d in deliveries if d["status"] != "sent"] == []
    assert email_ids <= set(received)  # nothing missing
    # A repeat only where a crash came between the SMTP server's acceptance and the record of it (see
    # tests/e2e/test_notify_delivery.py): that delivery was attempted again, under the same Message-ID.
    assert repeated <= retried
    assert all(received[delivery] == 2 for delivery in repeated)


async def stream_under_faults(
    system: "PrivateSystem",
    faults: list[tuple[str, Callable[[], None]]],
    rng: random.Random,
    *,
    stream_seed: int,
    minimum: int,
    rate: float,
    gap_s: tuple[float, float],
    title: str,
    capsys: Any,
) -> None:
    """Stream requests while the faults strike (at `rng`'s moments) until they are over and `minimum` were
    accepted, then `check_exactly_once`, its tables shown in the test's output whatever the capture mode."""
    started = time.monotonic()
    injecting = asyncio.create_task(inject(faults, rng, gap_s))
    stream = Stream(system, random.Random(stream_seed), minimum=minimum, rate=rate)
    accepted = await stream.run(done=injecting.done)
    injected = await injecting

    def show(text: str) -> None:
        with capsys.disabled():
            print(text)

    await check_exactly_once(
        system,
        accepted,
        injected,
        title=title,
        started=started,
        streamed_s=time.monotonic() - started,
        show=show,
    )
