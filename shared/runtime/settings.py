"""Typed configuration shared by every service: where the broker and the database are, who may call the APIs."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.runtime.auth import DEV_API_KEYS, DEV_SERVICE_KEY, Principal, parse_api_keys


class BrokerKind(StrEnum):
    """Which Kafka-protocol broker is on the other end; producer settings depend on it."""

    KAFKA = "kafka"  # Apache Kafka: acks=all with an idempotent producer.
    TANSU = "tansu"  # tansu rejects InitProducerId, so no idempotent producer.


class ServiceSettings(BaseSettings):
    """Settings every service reads from `CRI_*` environment variables; services subclass it."""

    # Errors name the variable but never echo its value: API keys and database passwords stay out of logs.
    model_config = SettingsConfigDict(env_prefix="CRI_", extra="ignore", hide_input_in_errors=True)

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/cri",
        description="libpq URL; TLS with e.g. ?sslmode=verify-full&sslrootcert=/path/ca.pem",
    )
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA bundle to verify the brokers (SSL).")
    broker_kind: BrokerKind = BrokerKind.KAFKA
    http_host: str = "127.0.0.1"
    http_port: int = 0
    # Batches bound a transaction and an offset commit; bigger batches amortise both.
    consumer_max_records: int = Field(default=500, ge=1, le=5000)
    # How long an idle subscriber waits for records (FastStream then also sleeps that long before polling again).
    consumer_batch_timeout_ms: int = Field(default=10, ge=1)
    # The broker answers a fetch once it holds this many bytes or has waited this long. A batch costs a transaction,
    # an offset commit and a relay round whatever its size: answering at once gave batches of 2-3 records at a steady
    # 50 requests/s, and the services' per-batch work took the CPU that the rest needed (docs/benchmarks.md).
    consumer_fetch_min_bytes: int = Field(default=256 * 1024, ge=1)
    consumer_fetch_max_wait_ms: int = Field(default=25, ge=0)
    outbox_batch_size: int = Field(default=1000, ge=1)
    # How soon a relay finds events another replica wrote (its own process's writes wake it at once).
    outbox_poll_interval_s: float = Field(default=0.1, gt=0)
    db_pool_size: int = Field(default=10, ge=2)
    # Parsed by parse_api_keys (NoDecode: its messages never repeat a key); the default is for the embedded stack.
    api_keys: Annotated[dict[str, Principal], NoDecode, BeforeValidator(parse_api_keys)] = Field(
        default_factory=lambda: dict(DEV_API_KEYS),
        description='JSON: {"<API key>": {"role": "agency|provider|staff|service", "subject": "..."}}.',
    )
    # People sign in on intake's pages; the other services' pages ask intake who a session is (web/session.py).
    intake_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Intake's base URL: where people sign in, and where other services ask who a session is.",
    )
    intake_api_key: SecretStr = Field(
        default=SecretStr(DEV_SERVICE_KEY),
        description="A service key of CRI_API_KEYS that other services present to intake's session introspection.",
    )
