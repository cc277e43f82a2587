"""An ASGI middleware: X-Request-ID in and out, HTTP metrics per route template, the access line,
and, with tracing on, the request's server span (a W3C ``traceparent`` header continues the
caller's trace)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docrag import tracing
from docrag.observability.http_metrics import METHODS, UNMATCHED_ROUTE, http_metrics
from docrag.observability.logs import ACCESS_LOGGER
from docrag.observability.request_id import HEADER, accept_request_id, current_request_id

_HEADER_BYTES = HEADER.encode("ascii")
_access = logging.getLogger(ACCESS_LOGGER)


def _template(route: Any) -> str | None:
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


def _leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes themselves, through FastAPI's wrappers of included routers (no include prefix is used)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/documents/{document_id}``), never the raw path."""
    found = _template(scope.get("route"))
    if found is not None:
        return found
    # Answered before routing (401/403/413 from the guard) or not routed (405): match it here,
    # so those still count under their route. Only such requests pay for this loop.
    partial = None
    for route in _leaf_routes(getattr(getattr(scope.get("app"), "router", None), "routes", ())):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return _template(route) or UNMATCHED_ROUTE
        if match == Match.PARTIAL and partial is None:
            partial = _template(route)
    return partial or UNMATCHED_ROUTE


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: bool = True, access_log: bool = True) -> None:
        self.app = app
        self.metrics = http_metrics() if metrics else None
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if tracing.enabled():
            with server_span(scope) as span:
                await self._serve(scope, receive, send, span)
        else:
            await self._serve(scope, receive, send, None)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, span: Any) -> None:
        raw = next((v for k, v in scope.get("headers", ()) if k.lower() == _HEADER_BYTES), None)
        request_id = accept_request_id(raw)
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _HEADER_BYTES]
                headers.append((_HEADER_BYTES, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # Routing stores the matched route in the scope; read it once the app has run.
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "")
            if self.metrics is not None:
                self.metrics.observe(route, method, status, seconds)
            if span is not None:
                finish_span(span, route, method, status, request_id)
            if self.access_log and _access.isEnabledFor(logging.INFO):
                principal = scope.get("state", {}).get("principal")
                fields = {
                    "request_id": request_id,
                    "tenant": str(principal.tenant_id) if principal is not None else None,
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                }
                _access.info("%s %s %s", method, route, status, extra=fields)
            current_request_id.reset(token)


def server_span(scope: Scope) -> AbstractContextManager[Any]:
    """The request's span, below the caller's ``traceparent`` when it sent a valid one. Named by
    its method until the route is known; no path, query or header is recorded."""
    traceparent = next((v for k, v in scope.get("headers", ()) if k.lower() == b"traceparent"), None)
    parent = tracing.context_of(traceparent.decode("latin-1")) if traceparent else None
    method = scope.get("method", "")
    return tracing.server_span(f"HTTP {method}", parent)


def finish_span(span: Any, route: str, method: str, status: int, request_id: str) -> None:
    span.update_name(f"{method} {route}")
    span.set_attributes(
        {
            "http.request.method": method if method in METHODS else "_OTHER",
            "http.route": route,
            "http.response.status_code": status,
            "docrag.request_id": request_id,
        }
    )
    if status >= 500:
        tracing.mark_error(span, f"HTTP {status}")
