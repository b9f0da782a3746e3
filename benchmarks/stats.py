"""Pure arithmetic of a benchmark: per-request traces to hop latencies, percentiles, throughput."""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PERCENTILES = (50, 95, 99)


@dataclass
class Trace:
    """When one request passed each point, in epoch seconds (None: not seen). `*_ts` are Kafka record
    timestamps (the outbox relay's publish time); the others are the envelopes' occurred_at."""

    sent: float | None = None
    submitted: float | None = None
    submitted_ts: float | None = None
    routed: float | None = None
    routed_ts: float | None = None
    opened: float | None = None
    opened_ts: float | None = None
    notified: float | None = None
    notified_ts: float | None = None
    notifications: int = 0

    @property
    def done(self) -> bool:
        return self.notified is not None


# Hop name -> (from field, to field). Each hop is split in "relay" (commit -> record on the broker) and the
# rest (the next service's consumer and transaction) by the record timestamps, to show where time goes.
HOPS: dict[str, tuple[str, str]] = {
    "intake (sent->submitted)": ("sent", "submitted"),
    "submitted->routed": ("submitted", "routed"),
    "routed->opened": ("routed", "opened"),
    "opened->notified": ("opened", "notified"),
    "end to end (sent->notified)": ("sent", "notified"),
}
OUTBOX_DELAYS: dict[str, tuple[str, str]] = {
    "intake outbox (occurred->on broker)": ("submitted", "submitted_ts"),
    "routing outbox": ("routed", "routed_ts"),
    "engagements outbox": ("opened", "opened_ts"),
    "notify outbox": ("notified", "notified_ts"),
}


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of unsorted values (the smallest value at or above p% of them)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Latency:
    count: int
    mean_ms: float
    percentiles_ms: dict[str, float] = field(default_factory=dict)
    max_ms: float = math.nan


def latency(seconds: Sequence[float]) -> Latency:
    ms = [s * 1000 for s in seconds]
    return Latency(
        count=len(ms),
        mean_ms=sum(ms) / len(ms) if ms else math.nan,
        percentiles_ms={f"p{p}": percentile(ms, p) for p in PERCENTILES},
        max_ms=max(ms) if ms else math.nan,
    )


def spans(traces: Iterable[Trace], pairs: dict[str, tuple[str, str]]) -> dict[str, Latency]:
    """Latency of each named (start, end) pair over the traces that have both points."""
    traces = list(traces)
    result = {}
    for name, (start, end) in pairs.items():
        durations = [
            getattr(t, end) - getattr(t, start)
            for t in traces
            if getattr(t, start) is not None and getattr(t, end) is not None
        ]
        result[name] = latency(durations)
    return result


def throughput(starts: Iterable[float], ends: Iterable[float]) -> float:
    """Completed items per second, from the first start to the last end."""
    starts, ends = list(starts), list(ends)
    if not ends:
        return 0.0
    elapsed = max(ends) - min(starts)
    return len(ends) / elapsed if elapsed > 0 else math.inf


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan
