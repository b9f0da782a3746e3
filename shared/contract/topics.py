"""The topic catalog: every Kafka topic of the system, who writes it, who reads it, how it is keyed and kept.

Producers and consumers are exactly who may write and read each topic: the Kafka ACLs are derived from them
(system/access.py), and a test holds them to what each service's code subscribes to and publishes."""

from dataclasses import dataclass
from enum import StrEnum


class Cleanup(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    cleanup: Cleanup
    retention_ms: int | None
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    description: str
    # The broker deletes whole segments only: a short retention needs short segments too (the default is 7 days).
    segment_ms: int | None = None

    def config(self, min_insync_replicas: int | None = None) -> dict[str, str]:
        """Broker-side topic configuration (the broker's min.insync.replicas, 1, unless given)."""
        settings = {"cleanup.policy": self.cleanup.value}
        if min_insync_replicas is not None:
            settings["min.insync.replicas"] = str(min_insync_replicas)
        if self.retention_ms is not None:
            settings["retention.ms"] = str(self.retention_ms)
        if self.segment_ms is not None:
            settings["segment.ms"] = str(self.segment_ms)
        return settings


_HOUR_MS = 60 * 60 * 1000
_DAY_MS = 24 * _HOUR_MS

# Every topic is kept on three brokers where the cluster has them, and a write (producers send with acks=all) is
# acknowledged once two of them have it: one broker can fail, or be restarted, with nothing lost and no stop.
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


def replication(brokers: int) -> tuple[int, int | None]:
    """Replication factor and min.insync.replicas of the topics on a cluster of `brokers` (1 and None, the
    broker's default of 1, on one)."""
    factor = min(REPLICATION_FACTOR, brokers)
    return factor, MIN_INSYNC_REPLICAS if factor == REPLICATION_FACTOR else None


# 12 partitions on the busy keyed topics let ops scale a consumer group to 12 replicas without re-keying.
INBOUND_SUBMISSIONS = TopicSpec(
    name="cri.intake.submissions",
    partitions=6,
    key="the publisher's client reference (any stable string)",
    cleanup=Cleanup.DELETE,
    retention_ms=7 * _DAY_MS,
    producers=("external case-management systems",),
    consumers=("intake",),
    description="Requests for assistance put by other systems; validated exactly like the HTTP body.",
)
INBOUND_REJECTIONS = TopicSpec(
    name="cri.intake.rejections",
    partitions=6,
    key="the rejected message's key",
    cleanup=Cleanup.DELETE,
    retention_ms=7 * _DAY_MS,
    producers=("intake",),
    consumers=("external case-management systems",),
    description="Answers to invalid inbound submissions, with the publisher's correlation id and field errors.",
)
REQUESTS = TopicSpec(
    name="cri.requests",
    partitions=12,
    key="request_id",
    cleanup=Cleanup.DELETE,
    retention_ms=365 * _DAY_MS,
    producers=("intake", "routing"),
    consumers=("intake", "routing", "engagements", "notify"),
    description="Life of a request before it is an engagement: received, routed, sent to review, queued, withdrawn.",
)
REQUEST_CONTACTS = TopicSpec(
    name="cri.requests.contacts",
    partitions=12,
    key="request_id",
    cleanup=Cleanup.DELETE,
    # Personal data, read by the two services that address the agency: each keeps what it needs in its own
    # database within seconds, so the topic needs to keep it only as long as a stopped consumer could lag.
    retention_ms=30 * _DAY_MS,
    producers=("intake",),
    consumers=("engagements", "notify"),
    description="The contact person of each request, apart from the request so that only those who address the "
    "agency read it.",
)
ENGAGEMENTS = TopicSpec(
    name="cri.engagements",
    partitions=12,
    key="engagement_id",
    cleanup=Cleanup.DELETE,
    retention_ms=365 * _DAY_MS,
    producers=("engagements",),
    consumers=("intake", "routing", "notify"),
    description="Engagement events: opened, milestone reached, status changed, deadline missed, escalated, closed.",
)
ENGAGEMENT_STATE = TopicSpec(
    name="cri.engagements.state",
    partitions=12,
    key="engagement_id",
    cleanup=Cleanup.COMPACT,
    retention_ms=None,
    producers=("engagements",),
    consumers=("dashboards",),
    description="Latest snapshot of each engagement, without personal contact data; compacted.",
)
NOTIFICATIONS = TopicSpec(
    name="cri.notifications",
    partitions=6,
    key="request_id",
    cleanup=Cleanup.DELETE,
    retention_ms=90 * _DAY_MS,
    producers=("notify",),
    consumers=("operators",),
    description="Outcome of each notification: sent or failed.",
)
PEOPLE_LINKS = TopicSpec(
    name="cri.people.links",
    partitions=3,
    key="link_id",
    cleanup=Cleanup.DELETE,
    # The links in it open a session or send a request: kept an hour (notify reads them within seconds), in
    # segments of ten minutes.
    retention_ms=_HOUR_MS,
    segment_ms=10 * 60 * 1000,
    producers=("intake",),
    consumers=("notify",),
    description="Links intake asks notify to email to a person (to sign in, to confirm a request sent by the "
    "public form): single use, short-lived.",
)
DEAD_LETTERS = TopicSpec(
    name="cri.deadletter",
    partitions=3,
    key="source topic/partition/offset",
    cleanup=Cleanup.DELETE,
    retention_ms=30 * _DAY_MS,
    producers=("intake", "routing", "engagements", "notify"),
    consumers=("operators",),
    description="Messages that could not be decoded, validated or applied, with their original bytes and the reason.",
)

CATALOG: tuple[TopicSpec, ...] = (
    INBOUND_SUBMISSIONS,
    INBOUND_REJECTIONS,
    REQUESTS,
    REQUEST_CONTACTS,
    ENGAGEMENTS,
    ENGAGEMENT_STATE,
    NOTIFICATIONS,
    PEOPLE_LINKS,
    DEAD_LETTERS,
)
