"""The Kafka side of a service: broker client, topic creation from the catalog, safe batch subscribers."""

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError, for_code
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.contract.topics import CATALOG, TopicSpec, replication
from shared.runtime import metrics
from shared.runtime.backoff import Backoff, retry
from shared.runtime.consumer import TRANSIENT_ERRORS, BatchApplier
from shared.runtime.settings import BrokerKind, ServiceSettings

log = logging.getLogger(__name__)


def kafka_security(settings: ServiceSettings) -> BaseSecurity | None:
    """TLS and SASL towards the brokers, from configuration (secrets from the environment only)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    tls = protocol in ("SSL", "SASL_SSL")
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile) if tls else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    if settings.kafka_sasl_username is None or settings.kafka_sasl_password is None:
        raise ValueError(f"{protocol} needs CRI_KAFKA_SASL_USERNAME and CRI_KAFKA_SASL_PASSWORD")
    mechanism = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return mechanism[settings.kafka_sasl_mechanism](
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=tls,
    )


def kafka_client_options(settings: ServiceSettings) -> dict[str, Any]:
    """The same security as keyword arguments of plain aiokafka clients (admin, ops tools)."""
    return parse_security(kafka_security(settings))


def make_broker(settings: ServiceSettings, service: str) -> KafkaBroker:
    """A broker client whose producer waits for all in-sync replicas; idempotent where the broker allows it."""
    return KafkaBroker(
        # A list: FastStream would pass "host1:port1,host2:port2" on to aiokafka as the name of one host.
        settings.kafka_bootstrap_servers.split(","),
        security=kafka_security(settings),
        client_id=f"cri-{service}",
        acks="all",
        enable_idempotence=settings.broker_kind is BrokerKind.KAFKA,
        linger_ms=2,
        # Topics come from the catalog with their partition counts, never from a subscriber's defaults.
        allow_auto_create_topics=False,
        graceful_timeout=10.0,
        # Handlers take their records as the decoded body: with FastDepends on, a handler's `KafkaMessage` is a
        # context field FastDepends resolves in a worker thread, a thread hop per batch for nothing.
        apply_types=False,
        # FastStream's per-message "Received"/"Processed" lines cost more than they tell: DEBUG only.
        log_level=logging.DEBUG,
    )


class BrokerPublisher:
    """Publishes outbox rows through a started broker, pipelined, and waits for every acknowledgement."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish_many(self, messages: Sequence[tuple[str, str, bytes, dict[str, str]]]) -> None:
        pending = [
            await self._broker.publish(payload, topic, key=key.encode(), headers=headers, no_confirm=True)
            for topic, key, payload, headers in messages
        ]
        await asyncio.gather(*pending)


def subscribe(
    broker: KafkaBroker,
    service: str,
    applier: Callable[[], BatchApplier],
    topics: Sequence[TopicSpec],
    group_id: str,
    settings: ServiceSettings,
    description: str,
) -> None:
    """Feed batches from `topics` to the applier (built when the service starts: it needs the database),
    committing offsets only after its transaction commits.

    NACK_ON_ERROR: the offsets of a batch are committed when the handler returns (its database transaction
    has committed); if it raises (a transient failure), the consumer seeks back and the batch comes again.
    """

    # Before a batch is redelivered after a transient failure, so an outage is not a hot loop.
    backoff = Backoff(first_s=0.5, cap_s=30.0)

    async def _records(message: KafkaMessage) -> Any:
        return message.raw_message  # decoded by EventConsumer, which dead-letters what it cannot read

    @broker.subscriber(
        *(t.name for t in topics),
        group_id=group_id,
        batch=True,
        max_records=settings.consumer_max_records,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
        fetch_min_bytes=settings.consumer_fetch_min_bytes,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_records,
        title=f"{group_id}: {', '.join(t.name for t in topics)}",
        description=description,
    )
    async def apply_batch(records: Any) -> None:
        for record in records:
            metrics.MESSAGES_IN.labels(service, record.topic).inc()
        try:
            with metrics.BATCH_SECONDS.labels(service).time():
                await applier().apply_batch(records)
        except TRANSIENT_ERRORS as exc:
            metrics.BATCH_ERRORS.labels(service).inc()
            delay = await backoff.wait()
            log.warning("%s: transient failure (%r); batch redelivered after %.1fs", service, exc, delay)
            raise
        backoff.succeeded()


async def ensure_topics(
    bootstrap_servers: str, catalog: Sequence[TopicSpec] = CATALOG, *, client_options: dict[str, Any] | None = None
) -> list[str]:
    """Create the catalog's missing topics with their partitions, config and the replication the cluster's size
    allows (see `topics.replication`); returns the names created.

    Raises what the broker answers for a topic (TopicAuthorizationFailedError for a principal that may not
    create it), except that it exists: another process created it meanwhile.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="cri-topics", **(client_options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in catalog if spec.name not in existing]
        if not missing:
            return []
        factor, min_insync = replication(len((await admin.describe_cluster())["brokers"]))
        answer = await admin.create_topics(
            [
                NewTopic(spec.name, spec.partitions, replication_factor=factor, topic_configs=spec.config(min_insync))
                for spec in missing
            ]
        )
        created = []
        for name, code, *message in answer.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                raise for_code(code)(f"creating topic {name}: {''.join(message)}")
        return created
    finally:
        await admin.close()


def topics_used(broker: KafkaBroker, catalog: Sequence[TopicSpec] = CATALOG) -> list[TopicSpec]:
    """The catalog's topics a service's broker subscribes to or declares it publishes."""
    names = {name for subscriber in broker.subscribers for name in subscriber.topic_names}
    names.update(publisher.topic for publisher in broker.publishers)
    return [spec for spec in catalog if spec.name in names]


async def start_with_retry(broker: KafkaBroker, settings: ServiceSettings, *, attempts: int | None = None) -> None:
    """Start the broker client, saying clearly that the broker is unreachable and retrying, not crash-looping."""

    async def start() -> None:
        # Only its own topics: a principal sees (and may use) no other, and only the setup job creates any.
        await ensure_topics(
            settings.kafka_bootstrap_servers, topics_used(broker), client_options=kafka_client_options(settings)
        )
        await broker.start()

    await retry(
        start,
        transient=(KafkaConnectionError, KafkaError, OSError),
        what=f"Kafka broker at {settings.kafka_bootstrap_servers}",
        log=log,
        attempts=attempts,
        between=broker.stop,
    )
