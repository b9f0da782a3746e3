"""What a run leaves: service metrics deltas (where the time goes), a printed table, result.json, chart.png."""

import json
import math
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.drivers import HTTP_HEADERS

_SCRAPED = {
    "cri_batch_seconds_sum": "batch_seconds",
    "cri_batch_seconds_count": "batches",
    "cri_messages_consumed_total": "consumed",
    "cri_events_published_total": "published",
}


def scrape(urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """Totals of each service's batch and message counters now (replicas of a service add up)."""
    totals: dict[str, dict[str, float]] = {}
    for name, url in urls.items():
        service = name.split("#")[0]
        text = httpx.get(f"{url}/metrics", headers=HTTP_HEADERS, timeout=10).text
        counters = totals.setdefault(service, dict.fromkeys(_SCRAPED.values(), 0.0))
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in _SCRAPED:
                    counters[_SCRAPED[sample.name]] += sample.value
    return totals


def batch_profile(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """Per service during a phase: batches, records per batch, time per batch and per record."""
    profile = {}
    for service, end in after.items():
        start = before.get(service, {})
        delta = {k: v - start.get(k, 0.0) for k, v in end.items()}
        batches = delta["batches"] or math.nan
        profile[service] = {
            "batches": delta["batches"],
            "records": delta["consumed"],
            "records_per_batch": delta["consumed"] / batches,
            "ms_per_batch": 1000 * delta["batch_seconds"] / batches,
            "ms_per_record": 1000 * delta["batch_seconds"] / (delta["consumed"] or math.nan),
            "busy_s": delta["batch_seconds"],
            "published": delta["published"],
        }
    return profile


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def render_table(result: dict) -> str:
    lines = [f"CRI Exchange pipeline benchmark: {result['broker']}, {result['requests']} requests, {result['mode']}"]
    lines.append(f"{'path':<34}{'done':>7}{'req/s':>9}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'opened/s':>10}")
    for name, run in result["runs"].items():
        e2e = run["end_to_end"]
        p = e2e["percentiles_ms"]
        lines.append(
            f"{name:<34}{run['completed']:>7}{_fmt(run['throughput_per_s']):>9}"
            f"{_fmt(p['p50']):>10}{_fmt(p['p95']):>10}{_fmt(p['p99']):>10}{_fmt(run.get('opened_per_s')):>10}"
        )
    lines.append("")
    for name, run in result["runs"].items():
        if "hops" not in run:
            continue
        lines.append(f"{name}: latency per hop (ms)        p50       p95       p99")
        for hop, stats in {**run["hops"], **run["outbox_delays"]}.items():
            p = stats["percentiles_ms"]
            lines.append(f"  {hop:<36}{_fmt(p['p50']):>8}{_fmt(p['p95']):>10}{_fmt(p['p99']):>10}")
        lines.append(f"  {'service':<12}{'batches':>9}{'rec/batch':>11}{'ms/batch':>10}{'ms/rec':>9}{'busy s':>9}")
        for service, prof in run.get("services", {}).items():
            lines.append(
                f"  {service:<12}{_fmt(prof['batches'], 0):>9}{_fmt(prof['records_per_batch']):>11}"
                f"{_fmt(prof['ms_per_batch']):>10}{_fmt(prof['ms_per_record'], 2):>9}{_fmt(prof['busy_s']):>9}"
            )
        lines.append("")
    lines.extend(_cpu_table(result["runs"]))
    for key in [k for k in result if k.startswith("http_intake")]:
        h = result[key]
        label = _HTTP_PHASES.get(key) or f"alone, {key.rsplit('_x', 1)[1]} intake processes, the rest paused"
        lines.append(
            f"HTTP intake ({label}): {h['accepted']} accepted ({h['refused']} refused) at"
            f" {_fmt(h['accepted_per_s'])} req/s with {h['concurrency']} clients; response p50/p95/p99 ms "
            + "/".join(_fmt(v) for v in h["response_ms"]["percentiles_ms"].values())
            + (f"; {h['completed']} reached their email after" if "completed" in h else "")
        )
    lines.append("")
    lines.append("ratios and targets")
    for name, value in result["ratios"].items():
        lines.append(f"  {name:<56}{_fmt(value, 2):>10}")
    return "\n".join(lines)


def _cpu_table(runs: dict) -> list[str]:
    """CPU ms per request sent, a row per process, a column per pipeline phase."""
    measured = {name: run["cpu_ms_per_request"] for name, run in runs.items() if "cpu_ms_per_request" in run}
    if not measured:
        return []
    processes = list(dict.fromkeys(p for cpu in measured.values() for p in cpu))
    lines = ["CPU ms per request, per process: " + " | ".join(measured)]
    for process in processes:
        lines.append(f"  {process:<14}" + "".join(f"{_fmt(cpu.get(process), 2):>10}" for cpu in measured.values()))
    return [*lines, ""]


_HTTP_PHASES = {"http_intake": "pipeline running", "http_intake_alone": "alone, the rest paused"}


def write_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))


def write_chart(result: dict, path: Path) -> bool:
    """Throughput bars and end-to-end latency percentiles; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    runs = result["runs"]
    names = list(runs)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    rates = [runs[n]["throughput_per_s"] for n in names]
    bars = left.bar(names, rates, color="tab:blue")
    left.bar_label(bars, fmt="%.0f")
    if max(rates) > 10 * min(rates):  # flat out the relay ceiling is tens of times the rest; at a steady rate all match
        left.set_yscale("log")
        left.set_ylabel("completed per second (log scale)")
    else:
        left.set_ylim(0, max(rates) * 1.15)
        left.set_ylabel("completed per second")
    left.set_title("End-to-end throughput")
    left.tick_params(axis="x", rotation=25)
    width = 0.25
    for offset, pct in enumerate(("p50", "p95", "p99")):
        right.bar(
            [i + (offset - 1) * width for i in range(len(names))],
            [runs[n]["end_to_end"]["percentiles_ms"][pct] for n in names],
            width,
            label=pct,
        )
    right.set_xticks(range(len(names)), names, rotation=25)
    right.set_yscale("log")
    right.set_ylabel("ms (log scale)")
    right.set_title("End-to-end latency percentiles")
    right.legend()
    fig.suptitle(f"{result['broker']}, {result['requests']} requests, {result['mode']}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
