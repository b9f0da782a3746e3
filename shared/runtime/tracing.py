"""OpenTelemetry tracing across services: the W3C `traceparent` travels in Kafka headers (written into the
outbox row when the event is published, so it survives the wait in the outbox), and every log line carries the
trace id, so one request can be followed through all four services."""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

tracer = trace.get_tracer("cri-exchange")


def setup_tracing(service: str) -> None:
    """Spans get real ids; exporters (OTLP...) are added by deployment through the standard OTEL_* setup."""
    trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": f"cri-{service}"})))


def trace_headers() -> dict[str, str]:
    """The current trace context as headers to carry along with a message."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def context_of(headers: dict[str, str]) -> Context:
    return extract(headers)


@contextmanager
def span(name: str, headers: dict[str, str], kind: SpanKind) -> Iterator[trace.Span]:
    """A span continuing the trace named by `headers` (a new trace when they name none)."""
    with tracer.start_as_current_span(name, context=context_of(headers), kind=kind) as current:
        yield current


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
