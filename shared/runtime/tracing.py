"""OpenTelemetry tracing across services: the W3C `traceparent` travels in Kafka headers (written into the
outbox row when the event is published, so it survives the wait in the outbox), and every log line carries the
trace id, so one request can be followed through all four services.

Spans leave the process when the standard OTEL_* variables ask for it: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) sends them over OTLP/HTTP, `OTEL_TRACES_EXPORTER` names exporters
explicitly (`otlp`, `console`, `none`); the exporter itself reads the rest (headers, timeout, compression), the
SDK the sampler (`OTEL_TRACES_SAMPLER`), the batching (`OTEL_BSP_*`) and extra resource attributes."""

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, Status, StatusCode

tracer = trace.get_tracer("cri-exchange")

_OTLP = ("otlp", "otlp_proto_http")


def span_exporters(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[SpanExporter]:
    """The exporters the OTEL_* variables ask for: none unless an OTLP endpoint or OTEL_TRACES_EXPORTER is set."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint else "none").split(",")]
    exporters: list[SpanExporter] = []
    for name in filter(None, names):
        if name in _OTLP:
            # Imported only when asked for: it brings protobuf and requests into the process.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console or none)")
    return exporters


def setup_tracing(service: str) -> None:
    """Spans get real ids, and go to the exporters the OTEL_* variables name (batched, flushed at exit)."""
    trace.set_tracer_provider(tracer_provider(service, span_exporters()))


def tracer_provider(service: str, exporters: Sequence[SpanExporter]) -> TracerProvider:
    """With nowhere to send spans, none is recorded: each still gets its ids, which log lines and Kafka headers
    carry, but building and ending spans nobody reads cost every service a few per cent of its CPU."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"cri-{service}"}), sampler=None if exporters else ALWAYS_OFF
    )
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def trace_headers(context: Context | None = None) -> dict[str, str]:
    """The trace context (the current one unless given) as headers to carry along with a message."""
    carrier: dict[str, str] = {}
    inject(carrier, context=context)
    return carrier


def context_of(headers: dict[str, str]) -> Context:
    return extract(headers)


@contextmanager
def span(name: str, headers: dict[str, str], kind: SpanKind) -> Iterator[trace.Span]:
    """A span continuing the trace named by `headers` (a new trace when they name none)."""
    with tracer.start_as_current_span(name, context=context_of(headers), kind=kind) as current:
        yield current


@contextmanager
def continuing(headers: dict[str, str]) -> Iterator[None]:
    """Make the trace named by `headers` current, without a span of its own: what is published meanwhile
    belongs to that trace."""
    token = context.attach(context_of(headers))
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def publishing(messages: Sequence[tuple[str, dict[str, str]]]) -> Iterator[list[dict[str, str]]]:
    """A producer span for each (topic, headers) message, continuing the trace its headers name; yields the
    headers to send instead, which name the message's span, so its consumers continue from there. The spans end
    with the block (every message acknowledged), marked failed if it raises."""
    spans = [
        tracer.start_span(
            f"publish {topic}",
            context=context_of(headers),
            kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topic},
        )
        for topic, headers in messages
    ]
    try:
        yield [
            {**headers, **trace_headers(trace.set_span_in_context(sent))}
            for sent, (_, headers) in zip(spans, messages, strict=True)
        ]
    except Exception as exc:
        for failed in spans:
            failed.set_status(Status(StatusCode.ERROR, repr(exc)))
        raise
    finally:
        for sent in spans:
            sent.end()


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
