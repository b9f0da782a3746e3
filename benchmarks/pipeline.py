"""Benchmark of the whole pipeline, side by side with the broker's own ceiling, in one run.

Starts its own system (embedded PostgreSQL, Apache Kafka or tansu, SMTP sink, the four services) or uses the one
`cri up` runs (`--use-running`), drives requests through the Kafka intake topic and then the HTTP API, and
measures, from the events themselves, throughput and per-hop latency to the first email sent for the opened
engagement. In the same run: a bare aiokafka relay over 4 hops (the ceiling) and a naive one-message-one-
transaction relay (the baseline). Prints a table; writes artifacts/bench/result.json and chart.png.

    python -m benchmarks.pipeline                     # 2000 requests, as fast as possible, Apache Kafka
    python -m benchmarks.pipeline --rate 200          # a steady 200 requests/s
    python -m benchmarks.pipeline --broker tansu --replicas-routing 2
"""

import argparse
import asyncio
import logging
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
import yaml

from benchmarks import ceiling, cpu, report
from benchmarks.collector import EventCollector
from benchmarks.drivers import drive_http, drive_kafka
from benchmarks.stats import HOPS, OUTBOX_DELAYS, Trace, ratio, spans, throughput
from shared.runtime.settings import BrokerKind, ServiceSettings
from system.access import PUBLISHER, SETUP
from system.ops import login, running_stack
from system.stack.kafka_cluster import NODE_NAMES
from system.stack.runner import SERVICES, Infrastructure, ServiceProcess, start_services

ROUTING_PROVIDERS = Path(__file__).resolve().parent.parent / "services" / "routing" / "data" / "providers.yaml"
WARMUP = 20
# The same pipeline, doing the same work, one message at a time: each event in its own transaction and offset
# commit, each outbox row published on its own, each email claimed, sent and settled alone over one SMTP session.
NAIVE_SETTINGS = {
    "CRI_CONSUMER_MAX_RECORDS": "1",
    "CRI_OUTBOX_BATCH_SIZE": "1",
    "CRI_GROUP_COMMIT_MAX": "1",
    "CRI_DISPATCH_BATCH": "1",
    "CRI_SMTP_SESSIONS": "1",
}


@dataclass
class System:
    bootstrap: str
    kafka_users: dict[str, str]
    broker_kind: BrokerKind
    database_url: str
    urls: dict[str, str]
    broker_version: str = ""
    infra: Infrastructure | None = None
    env: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    extra: list[ServiceProcess] = field(default_factory=list)

    def kafka(self, principal: str) -> ServiceSettings:
        """The benchmark publishes as an outside system would, and observes every topic as the setup principal."""
        return login(self.bootstrap, self.kafka_users, principal)

    def pids(self) -> dict[str, int]:
        """The processes whose CPU time is measured (none of a system the benchmark did not start)."""
        pids: dict[str, int] = {}
        for process in [*self.services.values(), *self.extra]:
            if process.process is not None:
                same = sum(1 for name in pids if name.split("#")[0] == process.name)
                pids[f"{process.name}#{same + 1}" if same else process.name] = process.process.pid
        return pids | (self.infra.pids() if self.infra else {})


def roomy_providers(path: Path) -> Path:
    """The routing seed with room for every benchmark request: at today's capacities (about 200 engagements in
    all) most requests would be queued, and queued requests open no engagement."""
    seed = yaml.safe_load(ROUTING_PROVIDERS.read_text())
    for provider in seed["providers"]:
        provider["capacity"] = 1_000_000
    path.write_text(yaml.safe_dump(seed))
    return path


def phase_result(
    collector: EventCollector, ids: list[str], before: dict, after: dict, cpu_before: dict, cpu_after: dict
) -> dict:
    traces: list[Trace] = [collector.traces[i] for i in ids]
    done = [t for t in traces if t.done]
    hops = spans(traces, HOPS)
    return {
        "submitted": len(ids),
        "completed": len(done),
        "throughput_per_s": throughput([t.sent for t in traces if t.sent], [t.notified for t in done]),
        # Without notify's email dispatch: how fast requests become open engagements.
        "opened_per_s": throughput([t.sent for t in traces if t.sent], [t.opened for t in traces if t.opened]),
        "end_to_end": hops["end to end (sent->notified)"].__dict__,
        "hops": {name: stats.__dict__ for name, stats in hops.items()},
        "outbox_delays": {name: stats.__dict__ for name, stats in spans(traces, OUTBOX_DELAYS).items()},
        "opening_emails": sum(t.notifications for t in traces),
        "services": report.batch_profile(before, after),
        # Of every request sent in the phase, each process's CPU (each broker of a cluster: broker, broker-2,
        # broker-3); the four services' sum is "services", a cluster's "brokers".
        "cpu_ms_per_request": cpu.per_request(cpu_before, cpu_after, len(ids), set(SERVICES), set(NODE_NAMES)),
    }


async def measure(system: System, collector: EventCollector, channel: str, args, run_id: str) -> tuple[dict, dict]:
    """One phase: send, wait until every request's opening email is sent (or progress stops), profile."""
    before = await asyncio.to_thread(report.scrape, system.urls)
    pids = system.pids()
    cpu_before = cpu.sample(pids)
    extra: dict = {}
    if channel == "kafka":
        ids = await drive_kafka(
            system.kafka(PUBLISHER), system.broker_kind, collector.traces, run_id, args.requests, args.rate
        )
    else:
        http = await drive_http(
            [system.urls["intake"]], collector.traces, run_id, args.requests, args.rate, args.concurrency
        )
        ids = http.ids
        extra = http.summary(args.concurrency)
    await collector.wait_done(ids, idle_timeout_s=args.idle_timeout)
    cpu_after = cpu.sample(pids)
    after = await asyncio.to_thread(report.scrape, system.urls)
    return phase_result(collector, ids, before, after, cpu_before, cpu_after), extra


@contextmanager
def paused(processes: list[ServiceProcess]) -> Iterator[None]:
    """Freeze processes (SIGSTOP) for a while and let them go on (SIGCONT) after, even on failure."""
    pids = [p.process.pid for p in processes if p.process is not None]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


async def measure_intake_alone(
    system: System, collector: EventCollector, args, intake_urls: list[str], run_id: str
) -> dict:
    """Intake's own HTTP capacity: the services behind it are frozen during the burst, as if they ran on other
    machines, so intake, the broker and PostgreSQL have the cores. Then they catch up: every request must still
    reach its email."""
    downstream = [p for p in [*system.services.values(), *system.extra] if p.name != "intake"]
    with paused(downstream):
        http = await drive_http(intake_urls, collector.traces, run_id, args.requests, args.rate, args.concurrency)
    await collector.wait_done(http.ids, idle_timeout_s=args.idle_timeout)
    done = sum(1 for i in http.ids if collector.traces[i].done)
    return http.summary(args.concurrency) | {"completed": done}


async def warm_up(system: System, collector: EventCollector, run_id: str) -> None:
    """A few requests first, so connections, caches and consumer-group assignments are in place."""
    ids = await drive_kafka(system.kafka(PUBLISHER), system.broker_kind, collector.traces, f"{run_id}w", WARMUP, None)
    await collector.wait_done(ids, idle_timeout_s=60)


async def run(system: System, args) -> dict:
    run_id = uuid.uuid4().hex[:8]
    mode = f"steady {args.rate:g} req/s" if args.rate else "as fast as possible"
    result: dict = {
        "broker": f"{system.broker_kind.value} {system.broker_version}".strip(),
        "requests": args.requests,
        "mode": mode,
        "run_id": run_id,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": {},
    }
    collector = EventCollector(system.kafka(SETUP))
    await collector.start()
    try:
        await warm_up(system, collector, run_id)
        print("pipeline: kafka intake...", flush=True)
        result["runs"]["pipeline (kafka intake)"], _ = await measure(system, collector, "kafka", args, run_id)
        print("pipeline: http intake...", flush=True)
        result["runs"]["pipeline (http intake)"], http = await measure(system, collector, "http", args, run_id)
        result["http_intake"] = http
        if system.services:
            print("http intake alone (the services behind it paused)...", flush=True)
            result["http_intake_alone"] = await measure_intake_alone(
                system, collector, args, [system.urls["intake"]], f"{run_id}a"
            )
        if args.replicas_intake > 1:
            print(f"http intake alone, {args.replicas_intake} intake processes...", flush=True)
            replicas = await asyncio.to_thread(add_replicas, system, "intake", args.replicas_intake - 1)
            urls = [system.urls["intake"], *(r.url for r in replicas)]
            result[f"http_intake_alone_x{args.replicas_intake}"] = await measure_intake_alone(
                system, collector, args, urls, f"{run_id}i"
            )
        for service, replicas in (("routing", args.replicas_routing), ("notify", args.replicas_notify)):
            if replicas > 1:
                # Cumulative: a phase keeps the processes earlier phases added (intake and routing replicas).
                print(f"pipeline: kafka intake with {replicas} {service} processes...", flush=True)
                await asyncio.to_thread(add_replicas, system, service, replicas - 1)
                await warm_up(system, collector, f"{run_id}{service[0]}")
                name = f"pipeline (kafka, {service} x{replicas})"
                result["runs"][name], _ = await measure(system, collector, "kafka", args, f"{run_id}{service[0]}")
        if system.services and not args.no_naive_pipeline:
            print("pipeline: kafka intake, naive settings (one message at a time)...", flush=True)
            await asyncio.to_thread(restart_services, system, NAIVE_SETTINGS)
            await warm_up(system, collector, f"{run_id}n")
            result["runs"]["pipeline (kafka, naive settings)"], _ = await measure(
                system, collector, "kafka", args, f"{run_id}n"
            )
    finally:
        await collector.stop()
    size = round(sum(collector.submitted_sizes) / len(collector.submitted_sizes)) if collector.submitted_sizes else 1500
    result["message_bytes"] = size
    for chain in ("relay", "naive"):
        print(f"reference: {chain}...", flush=True)
        result["runs"][f"{chain} ({ceiling.HOPS} hops)"] = await ceiling.run_chain(
            chain,
            kafka=system.kafka(SETUP),
            broker_kind=system.broker_kind,
            database_url=system.database_url,
            run_id=run_id,
            count=args.requests,
            size=size,
            rate=args.rate,
        )
    result["ratios"] = ratios(result)
    return result


def ratios(result: dict) -> dict[str, float]:
    runs = result["runs"]
    kafka = runs["pipeline (kafka intake)"]
    relay = runs[f"relay ({ceiling.HOPS} hops)"]
    naive = runs[f"naive ({ceiling.HOPS} hops)"]
    return {
        "pipeline / relay ceiling, throughput (target >= 0.25)": ratio(
            kafka["throughput_per_s"], relay["throughput_per_s"]
        ),
        "pipeline / naive, throughput (target >= 10)": ratio(kafka["throughput_per_s"], naive["throughput_per_s"]),
        **(
            {
                "pipeline / pipeline with naive settings, throughput": ratio(
                    kafka["throughput_per_s"], runs["pipeline (kafka, naive settings)"]["throughput_per_s"]
                )
            }
            if "pipeline (kafka, naive settings)" in runs
            else {}
        ),
        **{
            f"{name} / relay ceiling, p{pct} latency": ratio(
                runs[name]["end_to_end"]["percentiles_ms"][f"p{pct}"], relay["end_to_end"]["percentiles_ms"][f"p{pct}"]
            )
            for name in ("pipeline (kafka intake)", "pipeline (http intake)")
            for pct in (50, 99)
        },
        "pipeline p99 end to end, ms (target < 250 at 200 req/s)": kafka["end_to_end"]["percentiles_ms"]["p99"],
        "HTTP intake accepted req/s, pipeline running": result.get("http_intake", {}).get("accepted_per_s", 0.0),
        "HTTP intake accepted req/s, alone (target >= 1000)": result.get("http_intake_alone", {}).get(
            "accepted_per_s", 0.0
        ),
        **{
            f"HTTP intake accepted req/s, alone, {key.rsplit('_x', 1)[1]} processes": value["accepted_per_s"]
            for key, value in result.items()
            if key.startswith("http_intake_alone_x")
        },
    }


def restart_services(system: System, settings: dict[str, str]) -> None:
    """Every service process stopped (replicas too) and started again, one of each, with `settings` added."""
    assert system.infra is not None, "restarting services needs the benchmark's own system"
    for process in [*system.extra, *system.services.values()]:
        process.stop()
    system.extra.clear()
    system.urls = {name: url for name, url in system.urls.items() if "#" not in name}
    log_dir = system.infra.home / "logs" / "naive"
    system.services = start_services(system.infra, log_dir=log_dir, env={**system.env, **settings})
    system.urls.update({name: s.url for name, s in system.services.items()})


def add_replicas(system: System, service: str, count: int) -> list[ServiceProcess]:
    assert system.infra is not None, "replicas need the benchmark's own system"
    replicas = []
    for n in range(count):
        log_dir = system.infra.home / "logs" / f"{service}-{n + 2}"
        replica = start_services(system.infra, (service,), log_dir=log_dir, env=system.env)[service]
        system.extra.append(replica)
        system.urls[f"{service}#{n + 2}"] = replica.url
        replicas.append(replica)
    return replicas


def own_system(args) -> System:
    home = args.out / "stack"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {"CRI_PROVIDERS_FILE": str(roomy_providers(home / "providers.yaml"))}
    started = time.monotonic()
    infra = Infrastructure(home, broker_kind=BrokerKind(args.broker)).start()
    try:
        services = start_services(infra, env=env)
    except BaseException:
        infra.stop()
        raise
    print(f"system up in {time.monotonic() - started:.0f}s: {infra.broker_kind.value} {infra.broker_version}")
    system = System(
        bootstrap=infra.bootstrap_servers,
        kafka_users=infra.kafka_users,
        broker_kind=infra.broker_kind,
        database_url=infra.database_url,
        urls={name: s.url for name, s in services.items()},
        broker_version=infra.broker_version,
        infra=infra,
        env=env,
        services=services,
    )
    return system


def tidy(home: Path) -> None:
    """Keep the services' logs; drop the broker's and the database's data (hundreds of MB a run)."""
    for path in home.iterdir():
        if path.is_dir() and path.name != "logs":
            shutil.rmtree(path, ignore_errors=True)


def running_system(args) -> System:
    stack = running_stack()
    if not stack:
        raise SystemExit("--use-running: no .cri/stack.json; start the system with `cri up` first")
    print("note: the running system keeps its provider capacities; requests beyond them are queued, not opened")
    return System(
        bootstrap=stack["bootstrap_servers"],
        kafka_users=stack.get("kafka_users", {}),
        broker_kind=BrokerKind(args.broker),
        database_url=stack["database_url"],
        urls=dict(stack["services"]),
        broker_version="(running)",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="Requests per path (and messages per reference).")
    parser.add_argument("--rate", type=float, default=None, help="Steady requests per second (default: flat out).")
    parser.add_argument("--broker", choices=[k.value for k in BrokerKind], default=BrokerKind.KAFKA.value)
    parser.add_argument("--use-running", action="store_true", help="Use the system `cri up` runs (.cri/stack.json).")
    parser.add_argument(
        "--replicas-routing", type=int, default=1, help="Also measure with this many routing processes."
    )
    parser.add_argument("--replicas-notify", type=int, default=1, help="Also measure with this many notify processes.")
    parser.add_argument(
        "--replicas-intake", type=int, default=1, help="Also measure intake alone with this many processes."
    )
    parser.add_argument(
        "--no-naive-pipeline", action="store_true", help="Skip the pipeline run with one-at-a-time settings."
    )
    parser.add_argument("--concurrency", type=int, default=32, help="Concurrent HTTP clients.")
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="Give up when nothing completes this long.")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out = args.out.resolve()
    # A terminated benchmark still stops what it started (the services run in their own sessions).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logging.basicConfig(level=logging.WARNING)
    system = running_system(args) if args.use_running else own_system(args)
    try:
        result = uvloop.run(run(system, args))  # like the services: the load generator must cost little
    finally:
        for process in [*system.extra, *system.services.values()]:
            process.stop()
        if system.infra is not None:
            system.infra.stop()
            tidy(system.infra.home)
    print(report.render_table(result))
    report.write_json(result, args.out / "result.json")
    charted = report.write_chart(result, args.out / "chart.png")
    print(f"\nwrote {args.out / 'result.json'}" + (f" and {args.out / 'chart.png'}" if charted else ""))


if __name__ == "__main__":
    main()
