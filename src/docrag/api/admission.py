"""Admission control: under overload, refuse at once instead of queueing without bound.

A pure ASGI middleware around the routes whose work is heavy (the ``search``, ``ask`` and
``upload`` classes of ``api/roles.py``). At most ``max_inflight_requests`` of them run at once in
this process; up to ``admission_queue`` more wait for a slot, each at most
``admission_wait_seconds``. A request that finds the queue full is answered at once, and one
whose wait runs out is answered then: 503 ``overloaded`` with ``Retry-After``, never a timeout.
Admitted requests so keep their latency when the load is three times what the process can serve,
and the process is back to normal as soon as the load drops (nothing is left queued behind).

Cheap routes (health, metrics, lists, gets) pass untouched, so a loaded process still answers
its probes and its operators.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from docrag.api.guard import send_error
from docrag.api.roles import policy_for
from docrag.errors import Overloaded
from docrag.instruments import admission_refused

GATED = frozenset({"search", "ask", "upload"})


class Admission:
    def __init__(self, app: ASGIApp, *, inflight: int, queue: int, wait_seconds: float) -> None:
        self.app = app
        self._inflight = inflight
        self._queue = queue
        self._wait = wait_seconds
        self._slots: asyncio.Semaphore | None = None  # made on the serving loop, at first use
        self._waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = policy_for(scope["method"], scope["path"]).limit
        if limit not in GATED:
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._inflight)
        slots = self._slots
        if slots.locked() and self._waiting >= self._queue:
            await self._refuse(send, limit, "queue_full")
            return
        self._waiting += 1
        try:
            await asyncio.wait_for(slots.acquire(), timeout=self._wait)
        except TimeoutError:
            await self._refuse(send, limit, "wait_expired")
            return
        finally:
            self._waiting -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()

    async def _refuse(self, send: Send, limit: str, why: str) -> None:
        admission_refused().labels(limit, why).inc()
        retry = max(1.0, self._wait)
        message = "DocRAG is at capacity: too many requests at once; retry shortly"
        await send_error(send, Overloaded(message, retry_after=retry))
