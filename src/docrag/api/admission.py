"""Admission control: under overload, refuse at once instead of queueing without bound.

A pure ASGI middleware around the routes whose work is heavy (the ``search``, ``ask`` and
``upload`` classes of ``api/roles.py``). At most ``max_inflight_requests`` of them run at once in
this process; up to ``admission_queue`` more wait for a slot. A request that finds the queue full
is answered at once, and one whose wait runs out is answered then: 503 ``overloaded`` with
``Retry-After``, never a timeout. Admitted requests so keep their latency when the load is three
times what the process can serve, and the process is back to normal as soon as the load drops
(nothing is left queued behind).

How long a request may wait follows CoDel (Nichols and Jacobson, "Controlling Queue Delay"), as
servers use it for their request queues: a burst makes a queue that drains, so in every interval
some request gets its slot quickly; overload makes a standing queue, where even the luckiest
request of an interval waited longer than the target. So while the shortest wait of the last
interval (``INTERVAL``) stayed under ``admission_target_seconds``, a request may wait up to
``admission_wait_seconds`` (a burst is absorbed, not refused); once it did not, the process is
overloaded and a request waits at most the target, so refusals come within it.

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
#: Seconds over which the shortest wait is taken (CoDel's interval, scaled to request latencies).
INTERVAL = 0.25


class Admission:
    def __init__(
        self, app: ASGIApp, *, inflight: int, queue: int, wait_seconds: float, target_seconds: float
    ) -> None:
        self.app = app
        self._inflight = inflight
        self._queue = queue
        self._wait = wait_seconds
        self._target = min(target_seconds, wait_seconds)
        self._slots: asyncio.Semaphore | None = None  # made on the serving loop, at first use
        self._waiting = 0
        #: CoDel's state: the shortest wait of a request admitted in the interval that ends at
        #: ``_interval_end`` (None: none admitted yet), and whether the last interval was overloaded.
        self._shortest: float | None = None
        self._interval_end = 0.0
        self.overloaded = False

    def _allowed_wait(self, now: float) -> float:
        """How long a request arriving ``now`` may wait for a slot (see the module's docstring)."""
        if now >= self._interval_end:
            if self._shortest is not None:
                # Hysteresis: while overloaded, the admitted wait at most the target by design, so
                # only a queue that is nearly empty again (a wait under a fifth of it) ends it.
                limit = self._target / 5 if self.overloaded else self._target
                self.overloaded = self._shortest > limit
            else:  # nobody was admitted: overloaded if every slot is still taken
                self.overloaded = self._slots is not None and self._slots.locked() and self._waiting > 0
            self._shortest = None
            self._interval_end = now + INTERVAL
        return self._target if self.overloaded else self._wait

    def _admitted_after(self, waited: float) -> None:
        self._shortest = waited if self._shortest is None else min(self._shortest, waited)

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
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        # One place in the semaphore's line (FIFO), watched in steps of the target: a request
        # queued before overload set in is held to the target too once it has (CoDel drops from
        # the head of a standing queue), without losing its place while the wait goes on.
        acquiring = asyncio.ensure_future(slots.acquire())
        self._waiting += 1
        try:
            while not acquiring.done():
                now = loop.time()
                allowed_until = arrived + self._allowed_wait(now)
                if now >= allowed_until:
                    break
                await asyncio.wait({acquiring}, timeout=min(allowed_until, now + self._target) - now)
        except BaseException:  # the client went away while waiting: give the place (or slot) back
            await _abandon(acquiring, slots)
            raise
        finally:
            self._waiting -= 1
        if not acquiring.done():
            acquiring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquiring
            if acquiring.cancelled():
                await self._refuse(send, limit, "wait_expired")
                return
        self._admitted_after(loop.time() - arrived)
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()

    async def _refuse(self, send: Send, limit: str, why: str) -> None:
        admission_refused().labels(limit, why).inc()
        retry = 1.0  # a slot frees within a second or two; Retry-After is in whole seconds
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
