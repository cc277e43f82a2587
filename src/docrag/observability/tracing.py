"""The OpenTelemetry SDK behind :mod:`docrag.tracing`, built only when DOCRAG_OTLP_ENDPOINT is set.

Spans are batched and sent as OTLP/HTTP protobuf to ``<endpoint>/v1/traces``. The provider is
this process's own (the global one is left alone), so several apps in one process (the tests)
each trace, and stop tracing, on their own terms.
"""

from __future__ import annotations

import logging
from typing import Any

from docrag import tracing
from docrag.errors import MissingDependency
from docrag.settings import Settings

_log = logging.getLogger(__name__)


class Tracing:
    """An SDK tracer provider with its OTLP exporter; :meth:`close` flushes and stops it."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("docrag")

    def flush(self, timeout_millis: int = 5000) -> bool:
        return bool(self.provider.force_flush(timeout_millis))

    def close(self) -> None:
        if tracing._tracer is self.tracer:
            tracing.use(None)
        self.provider.shutdown()


def otlp_traces_url(endpoint: str) -> str:
    """The traces URL of an OTLP/HTTP endpoint given as a base URL (or already as the full URL)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def start_tracing(settings: Settings) -> Tracing | None:
    """With DOCRAG_OTLP_ENDPOINT set, trace this process to it; :returns: None when it is unset.

    :raises MissingDependency: when the ``otel`` extra is not installed.
    """
    if not settings.otlp_endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise MissingDependency(
            "DOCRAG_OTLP_ENDPOINT is set but OpenTelemetry is not installed: pip install 'docrag[otel]'"
        ) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otlp_service_name}))
    exporter = OTLPSpanExporter(endpoint=otlp_traces_url(settings.otlp_endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    found = Tracing(provider)
    tracing.use(found.tracer)
    _log.info("tracing on: spans go to the OTLP endpoint DOCRAG_OTLP_ENDPOINT names")
    return found
