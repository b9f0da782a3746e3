"""Which exporters the standard OTEL_* variables ask for: none unless told."""

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.runtime.tracing import span_exporters, tracer_provider


def test_no_exporter_unless_asked() -> None:
    assert span_exporters({}) == []
    assert (
        span_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}) == []
    )


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
    ],
)
def test_otlp_when_an_endpoint_or_the_exporter_is_named(environ: dict[str, str]) -> None:
    assert [type(e) for e in span_exporters(environ)] == [OTLPSpanExporter]


def test_several_exporters_and_unknown_ones() -> None:
    assert [type(e) for e in span_exporters({"OTEL_TRACES_EXPORTER": "otlp,console"})] == [
        OTLPSpanExporter,
        ConsoleSpanExporter,
    ]
    with pytest.raises(ValueError, match="zipkin"):
        span_exporters({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_with_no_exporter_spans_are_not_recorded_but_keep_their_ids() -> None:
    tracer = tracer_provider("intake", []).get_tracer("test")
    with tracer.start_as_current_span("consume") as current:
        assert not current.is_recording()
        assert current.get_span_context().is_valid  # log lines and Kafka headers still name the trace


def test_with_an_exporter_spans_are_recorded() -> None:
    tracer = tracer_provider("intake", [InMemorySpanExporter()]).get_tracer("test")
    with tracer.start_as_current_span("consume") as current:
        assert current.is_recording()
