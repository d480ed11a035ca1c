"""OpenTelemetry: spans are always created (cheap no-ops); exported only when an endpoint is configured."""

from __future__ import annotations

from opentelemetry import trace

_configured: list[str] = []


def configure_tracing(endpoint: str | None) -> None:
    if not endpoint or endpoint in _configured:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "assistant"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _configured.append(endpoint)
