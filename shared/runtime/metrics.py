"""Prometheus metrics of a service process (one service per process, so the default registry is its own)."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter("cri_messages_consumed_total", "Records consumed", ["service", "topic"])
EVENTS_APPLIED = Counter("cri_events_applied_total", "Events applied (first delivery only)", ["service", "type"])
EVENTS_OUT = Counter("cri_events_published_total", "Outbox rows published to the broker", ["service"])
DEAD_LETTERED = Counter("cri_dead_lettered_total", "Records sent to the dead-letter topic", ["service"])
BATCH_ERRORS = Counter("cri_batch_errors_total", "Batches that failed and will be redelivered", ["service"])
BATCH_SECONDS = Histogram(
    "cri_batch_seconds",
    "Time to apply one consumed batch, transaction and commit included",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("cri_outbox_backlog", "Events written but not yet published", ["service"])
OUTBOX_AGE = Gauge("cri_outbox_oldest_age_seconds", "Age of the oldest unpublished event", ["service"])
CONSUMER_LAG = Gauge("cri_consumer_lag", "Records behind the end of each partition", ["service", "topic", "partition"])
