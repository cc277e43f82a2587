"""An ASGI middleware: X-Request-ID in and out, and HTTP metrics per route template."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docrag.observability.http_metrics import UNMATCHED_ROUTE, http_metrics
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
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.metrics = http_metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            self.metrics.observe(route, scope.get("method", ""), status, seconds)
            if _access.isEnabledFor(logging.INFO):
                principal = scope.get("state", {}).get("principal")
                fields = {
                    "request_id": request_id,
                    "tenant": str(principal.tenant_id) if principal is not None else None,
                    "route": route,
                    "method": scope.get("method", ""),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                }
                _access.info("%s %s %s", fields["method"], route, status, extra=fields)
            current_request_id.reset(token)
