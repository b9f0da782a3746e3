"""Which exporters the standard OTEL_* variables ask for: none unless told."""

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from shared.runtime.tracing import span_exporters


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
