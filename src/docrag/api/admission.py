"""Admission control: under overload, refuse at once instead of queueing without bound.

A pure ASGI middleware around the routes whose work is heavy (the ``search``, ``ask`` and
``upload`` classes of ``api/roles.py``). At most ``max_inflight_requests`` of them run at once in
this process; the others wait for a slot in line, or are refused: 503 ``overloaded`` with
``Retry-After``, never a timeout.

Who may wait is decided on arrival, from how long the wait would be: the requests ahead in line
times the mean time a request holds its slot (a moving average of the last ones), shared by the
slots. Up to ``admission_wait_seconds`` a request joins the line, so a burst is absorbed, not
refused; past it (or past ``admission_queue`` waiting) it is refused at once, so under overload
refusals take no time at all and the admitted wait about ``admission_wait_seconds`` at most. If
the estimate was wrong, a request that has waited twice that long is refused then. Admitted
requests so keep their latency when the load is three times what the process can serve, and the
process is back to normal as soon as the load drops (nothing is left queued behind).

Cheap routes (health, metrics, lists, gets) pass untouched, so a loaded process still answers
its probes and its operators.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from docrag.api.guard import send_error
from docrag.api.roles import policy_for
from docrag.errors import Overloaded
from docrag.instruments import admission_refused

GATED = frozenset({"search", "ask", "upload"})
#: Weight of the latest request in the moving average of the time a request holds its slot.
SMOOTHING = 0.1
#: The assumed holding time before any request has finished (seconds).
INITIAL_SERVICE = 0.1


class Admission:
    def __init__(self, app: ASGIApp, *, inflight: int, queue: int, wait_seconds: float) -> None:
        self.app = app
        self._inflight = inflight
        self._queue = queue
        self._wait = wait_seconds
        self._slots: asyncio.Semaphore | None = None  # made on the serving loop, at first use
        self._waiting = 0
        #: Moving average of the seconds an admitted request holds its slot.
        self.service_seconds = INITIAL_SERVICE

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait for its slot, by the line ahead of it."""
        return (self._waiting + 1) * self.service_seconds / self._inflight

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
        if slots.locked():
            if self._waiting >= self._queue:
                await self._refuse(send, limit, "queue_full")
                return
            if self.expected_wait() > self._wait:
                await self._refuse(send, limit, "wait_too_long")
                return
        loop = asyncio.get_running_loop()
        acquiring = asyncio.ensure_future(slots.acquire())
        self._waiting += 1
        try:
            await asyncio.wait({acquiring}, timeout=2 * self._wait)
        except BaseException:  # the client went away while waiting: give the place (or slot) back
            await _abandon(acquiring, slots)
            raise
        finally:
            self._waiting -= 1
        if not acquiring.done():
            acquiring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquiring
            if acquiring.cancelled():  # else it got its slot just now
                await self._refuse(send, limit, "wait_expired")
                return
        started = loop.time()
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()
            held = loop.time() - started
            self.service_seconds += SMOOTHING * (held - self.service_seconds)

    async def _refuse(self, send: Send, limit: str, why: str) -> None:
        admission_refused().labels(limit, why).inc()
        retry = max(1.0, self.expected_wait())
        message = "DocRAG is at capacity: too many requests at once; retry shortly"
        await send_error(send, Overloaded(message, retry_after=retry))


async def _abandon(acquiring: asyncio.Future[Any], slots: asyncio.Semaphore) -> None:
    """Leave the line: cancel the pending acquire, or release the slot it got meanwhile."""
    if not acquiring.done():
        acquiring.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await acquiring
    if acquiring.done() and not acquiring.cancelled():
        slots.release()
