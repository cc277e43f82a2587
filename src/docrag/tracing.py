"""Spans around DocRAG's work, for OpenTelemetry, at no cost while tracing is off.

Tracing is on only when ``DOCRAG_OTLP_ENDPOINT`` is set: the app factory (or ``docrag worker``)
then builds an SDK tracer (``docrag.observability.tracing``) and hands it to :func:`use`. Until
then every helper here returns at once and nothing of OpenTelemetry is imported by this module.

Span names: ``HTTP <method> <route>`` (the request), ``search``, ``answer``, ``judge``; an
ingestion job is ``ingest`` with ``parse``, ``chunk``, ``embed`` and ``write`` below it; a model
call is named by its operation (``embed_batch``, ``embed_passages``, ``rerank``, ``complete``,
``stream_open``). Attributes hold counts, ids, model ids and route templates: never a question,
a document's text, a key or a tenant's free text.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

T = TypeVar("T")
Attributes = Mapping[str, str | int | float | bool]

_NULL: AbstractContextManager[Any] = nullcontext()
#: The SDK tracer while tracing is on (an ``opentelemetry.trace.Tracer``), else None.
_tracer: Any = None


def use(tracer: Any) -> None:
    """Turn tracing on with ``tracer`` (None: off again)."""
    global _tracer
    _tracer = tracer


def enabled() -> bool:
    return _tracer is not None


def span(
    name: str, attributes: Attributes | None = None, *, parent: Any = None
) -> AbstractContextManager[Any]:
    """A span current for the ``with`` block (below the current one, or below ``parent``, an
    OpenTelemetry context); exceptions are recorded on it. A no-op while tracing is off."""
    if _tracer is None:
        return _NULL
    found: AbstractContextManager[Any] = _tracer.start_as_current_span(
        name, context=parent, attributes=attributes
    )
    return found


def server_span(name: str, parent: Any = None) -> AbstractContextManager[Any]:
    """The span of a request this process serves (kind SERVER), current for the block."""
    if _tracer is None:
        return _NULL
    from opentelemetry.trace import SpanKind

    found: AbstractContextManager[Any] = _tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER
    )
    return found


def mark_error(span: Any, description: str) -> None:
    """Set ``span``'s status to error (an answer the server failed, without an exception here)."""
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, description))


def annotate(attributes: Attributes) -> None:
    """Add attributes to the current span (none while tracing is off)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attributes(attributes)


def current_ids() -> tuple[str, str] | None:
    """The current span's (trace id, span id) in hex, for log lines; None without one."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent`` value, to continue the trace elsewhere (a job)."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> Any:
    """The OpenTelemetry context a ``traceparent`` value names (None: none, or tracing off)."""
    if _tracer is None or not traceparent:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": traceparent})


def traced(
    name: str, items: Generator[T, None, None], attributes: Attributes | None = None
) -> Generator[T, None, None]:
    """``items`` inside one span, from now until they end or are closed.

    For a generator read a step at a time (a streamed answer, each step possibly on another
    thread): the span is made current around each step only, never across a ``yield``, so the
    spans a step opens are its children and no context is left attached to a thread.
    """
    if _tracer is None:
        return items
    return _traced(_tracer.start_span(name, attributes=attributes), items)


def _traced(span: Any, items: Generator[T, None, None]) -> Generator[T, None, None]:
    from opentelemetry import trace

    try:
        while True:
            with trace.use_span(span, end_on_exit=False):  # records an exception on the span
                try:
                    item = next(items)
                except StopIteration:
                    return
            yield item
    finally:
        try:
            items.close()
        finally:
            span.end()
