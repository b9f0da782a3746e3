"""The two references the pipeline is compared with, over the same number of hops (4) and messages of the same
size, each hop its own OS process like the services:

- relay: bare aiokafka consumer -> producer chains that do no work, committing offsets once per batch (the
  ceiling: what the broker and the client library allow on this machine);
- naive: one message at a time, each in its own PostgreSQL transaction (inbox insert, state upsert, outbox
  insert), then published and acknowledged, then its offset committed.

Run a hop alone: `python -m benchmarks.ceiling relay SRC DST COUNT [--database-url ...]`, the broker and its
login in the CRI_KAFKA_* variables.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from contextlib import suppress

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.drivers import paced, producer
from benchmarks.stats import latency, throughput
from shared.runtime.settings import BrokerKind, ServiceSettings
from system.ops import kafka_client, login_env

HOPS = 4
# Messages through the chain before the measured ones, like the pipeline's warm-up: new topics' leaders,
# producer metadata and fetch sessions are settled first.
WARMUP = 200
NAIVE_SCHEMA = "bench_naive"
NAIVE_TABLES = f"""
CREATE SCHEMA IF NOT EXISTS {NAIVE_SCHEMA};
CREATE TABLE IF NOT EXISTS {NAIVE_SCHEMA}.inbox (event_id text PRIMARY KEY, applied_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS {NAIVE_SCHEMA}.state (key text PRIMARY KEY, hops int NOT NULL, updated_at timestamptz);
CREATE TABLE IF NOT EXISTS {NAIVE_SCHEMA}.outbox (id bigserial PRIMARY KEY, topic text, key text, payload bytea);
"""


def topic_names(run_id: str, mode: str) -> list[str]:
    return [f"bench.{run_id}.{mode}.{i}" for i in range(HOPS + 1)]


async def _hop(args: argparse.Namespace) -> None:
    kafka = ServiceSettings()
    consumer = AIOKafkaConsumer(
        args.src,
        **kafka_client(
            kafka,
            group_id=f"{args.src}.hop",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
        ),
    )
    client = producer(kafka, BrokerKind(args.broker_kind))
    conn = await asyncpg.connect(args.database_url) if args.mode == "naive" else None
    await consumer.start()
    await client.start()
    while not consumer.assignment():
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    moved = 0
    try:
        while moved < args.count:
            if args.mode == "relay":
                batches = await consumer.getmany(timeout_ms=50, max_records=500)
                records = [r for rs in batches.values() for r in rs]
                acks = [await client.send(args.dst, r.value, key=r.key) for r in records]
                await asyncio.gather(*acks)
                if records:
                    await consumer.commit()
            else:
                batches = await consumer.getmany(timeout_ms=50, max_records=1)
                records = [r for rs in batches.values() for r in rs]
                for r in records:
                    await _naive_apply(conn, r, args.dst)
                    await client.send_and_wait(args.dst, r.value, key=r.key)
                    await consumer.commit()
            moved += len(records)
    finally:
        await client.stop()
        with suppress(asyncio.CancelledError):
            await consumer.stop()
        if conn is not None:
            await conn.close()


async def _naive_apply(conn: asyncpg.Connection, record, dst: str) -> None:
    async with conn.transaction():
        await conn.execute(
            f"INSERT INTO {NAIVE_SCHEMA}.inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
            f"{record.topic}/{record.partition}/{record.offset}",
        )
        await conn.execute(
            f"INSERT INTO {NAIVE_SCHEMA}.state (key, hops, updated_at) VALUES ($1, 1, now())"
            " ON CONFLICT (key) DO UPDATE SET hops = state.hops + 1, updated_at = now()",
            record.key.decode(),
        )
        await conn.execute(
            f"INSERT INTO {NAIVE_SCHEMA}.outbox (topic, key, payload) VALUES ($1, $2, $3)",
            dst,
            record.key.decode(),
            record.value,
        )


async def create_topics(kafka: ServiceSettings, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(**kafka_client(kafka, client_id="cri-bench"))
    await admin.start()
    try:
        # Like the pipeline: the inbound topic has 6 partitions, the internal ones 12.
        await admin.create_topics([NewTopic(n, 6 if i == 0 else 12, replication_factor=1) for i, n in enumerate(names)])
    finally:
        await admin.close()


async def delete_topics(kafka: ServiceSettings, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(**kafka_client(kafka, client_id="cri-bench"))
    await admin.start()
    try:
        with suppress(Exception):  # tidying only; a broker that cannot delete keeps them
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def run_chain(
    mode: str,
    *,
    kafka: ServiceSettings,
    broker_kind: BrokerKind,
    database_url: str,
    run_id: str,
    count: int,
    size: int,
    rate: float | None,
) -> dict:
    """Relay `count` messages of `size` bytes through HOPS hop processes; latency and throughput from the
    first topic's send times to the last topic's record timestamps."""
    names = topic_names(run_id, mode)
    await create_topics(kafka, names)
    if mode == "naive":
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(NAIVE_TABLES)
        finally:
            await conn.close()
    hops = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.ceiling", mode, names[i], names[i + 1], str(WARMUP + count)]
            + ["--broker-kind", broker_kind.value, "--database-url", database_url],
            env={**os.environ, **login_env(kafka)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(HOPS)
    ]
    try:
        for hop in hops:
            assert hop.stdout is not None
            await asyncio.to_thread(hop.stdout.readline)  # "ready": its partitions are assigned
        sink = AIOKafkaConsumer(
            names[-1], **kafka_client(kafka, auto_offset_reset="earliest", enable_auto_commit=False)
        )
        await sink.start()
        sent: dict[bytes, float] = {}
        arrived: dict[bytes, float] = {}
        payload = json.dumps({"pad": "x" * max(size - 12, 0)}).encode()
        client = producer(kafka, broker_kind)
        await client.start()
        try:

            async def relay(prefix: str, n: int, pace: float | None) -> None:
                acks = []
                keys = [f"{run_id}-{prefix}{i}".encode() for i in range(n)]

                async def send(i: int) -> None:
                    sent[keys[i]] = time.time()
                    acks.append(await client.send(names[0], payload, key=keys[i]))

                async def receive() -> None:
                    pending = set(keys)
                    while pending:
                        for records in (await sink.getmany(timeout_ms=200)).values():
                            for r in records:
                                arrived.setdefault(r.key, r.timestamp / 1000)
                                pending.discard(r.key)

                receiving = asyncio.create_task(receive())
                await paced(n, pace, send)
                await asyncio.gather(*acks)
                with suppress(TimeoutError):  # report what arrived rather than nothing
                    await asyncio.wait_for(receiving, timeout=max(120.0, n / 10))

            await relay("w", WARMUP, None)
            sent.clear()
            arrived.clear()
            await relay("m", count, rate)
        finally:
            await client.stop()
            with suppress(asyncio.CancelledError):
                await sink.stop()
    finally:
        for hop in hops:
            with suppress(subprocess.TimeoutExpired):
                hop.wait(timeout=10)
            if hop.poll() is None:
                hop.kill()
        await delete_topics(kafka, names)
    durations = [arrived[k] - sent[k] for k in arrived if k in sent]
    return {
        "completed": len(arrived),
        "throughput_per_s": throughput(sent.values(), arrived.values()),
        "end_to_end": latency(durations).__dict__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["relay", "naive"])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("count", type=int)
    parser.add_argument("--broker-kind", default=BrokerKind.KAFKA.value)
    parser.add_argument("--database-url", default="")
    uvloop.run(_hop(parser.parse_args()))  # like the services


if __name__ == "__main__":
    main()
